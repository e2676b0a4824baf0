/**
 * The checks every transport applies before it touches a broker (names, records, settings, option values),
 * and the one way a transport reports a setting it changed. A transport calls them; users never need to.
 *
 * Invariant: every transport refuses exactly the same names, records and settings, with the same errors
 * (the conformance suite checks that they do).
 *
 * Why: shared, they cannot drift apart.
 */
import { Duration, Effect, Result } from "effect"
import { InvalidConfig, type InvalidName, PayloadTooLarge, type PublishError } from "./errors.ts"
import { validateGroupName, validateHeaders, validateText, validateTopicName } from "./internal/names.ts"
import {
  count,
  duration,
  durations,
  firstProblem,
  flag,
  func,
  invalid,
  object,
  oneOf,
  type Problem,
  secret,
  text
} from "./internal/options.ts"
import type { StartPosition } from "./StartPosition.ts"
import type {
  GroupSettings,
  OutgoingRecord,
  SettingDifference,
  SubscriptionOptions,
  TopicConfig,
  TopicSettings,
  UpdateTopicOptions
} from "./Transport.ts"
import * as TransportDefaults from "./TransportDefaults.ts"

/** A topic name: dot-separated tokens of `[A-Za-z0-9_-]`, at most 200 characters. */
export const topicName: (name: string) => Result.Result<string, InvalidName> = validateTopicName

/** A group name: one token of `[A-Za-z0-9_-]`, at most 64 characters. */
export const groupName: (name: string) => Result.Result<string, InvalidName> = validateGroupName

const MAX_REPLICAS = 5

/** Where a group starts: one of the `StartPosition` constructors' values. */
const startPosition = (option: string, value: unknown): Problem => {
  if (value === undefined) return undefined
  const start = value as Partial<StartPosition> & { sequence?: unknown; epochMillis?: unknown }
  switch (start._tag) {
    case "New":
    case "All":
      return undefined
    case "Sequence":
      return count(`${option}.sequence`, start.sequence)
    case "Time":
      return typeof start.epochMillis === "number" && Number.isFinite(start.epochMillis)
        ? undefined
        : invalid(`${option}.epochMillis`, start.epochMillis, "a finite number of milliseconds since the epoch")
    default:
      return invalid(option, value, "a StartPosition (StartPosition.all, .new, .sequence(n) or .time(date))")
  }
}

/** The limits of a topic, where given: whole counts, durations above zero, a known discard policy. The name is checked by {@link topicName}. */
export const topicConfig = (config: TopicConfig): Result.Result<void, InvalidConfig> =>
  resultOf(
    firstProblem(
      count("maxMessages", config.maxMessages),
      count("maxBytes", config.maxBytes),
      duration("maxAge", config.maxAge, { infinite: true }),
      oneOf("discard", config.discard, ["old", "new"]),
      oneOf("retention", config.retention, ["limits", "interest"]),
      duration("dedupWindow", config.dedupWindow),
      count("replicas", config.replicas, 1, MAX_REPLICAS)
    )
  )

/** The bounds, durations and start of a subscription, where given. Names are checked separately. */
export const subscription = (options: SubscriptionOptions): Result.Result<void, InvalidConfig> =>
  resultOf(
    firstProblem(
      startPosition("start", options.start),
      count("maxInFlight", options.maxInFlight),
      count("maxDeliveries", options.maxDeliveries),
      duration("ackWait", options.ackWait),
      durations("backoff", options.backoff)
    )
  )

// ---------------------------------------------------------------------------
// A transport's own options

/**
 * The rule of one of a transport's own options: the problem with `value`, an `InvalidConfig` naming `option`
 * and the value, or `undefined` when it is acceptable. An absent option (`undefined`) is always acceptable:
 * its default applies.
 */
export type OptionRule = (option: string, value: unknown) => InvalidConfig | undefined

/** A whole number of at least `min` (default 1), and at most `max` where given. */
export const countRule =
  (range: { readonly min?: number; readonly max?: number } = {}): OptionRule =>
  (option, value) =>
    count(option, value, range.min ?? 1, range.max)

/** A duration above zero (or zero too, with `zero`), finite (or `"Infinity"` too, with `infinite`), as the port's are. */
export const durationRule =
  (rule: { readonly zero?: boolean; readonly infinite?: boolean } = {}): OptionRule =>
  (option, value) =>
    duration(option, value, rule)

/** One of `choices`. */
export const choiceRule =
  (choices: ReadonlyArray<string>): OptionRule =>
  (option, value) =>
    oneOf(option, value, choices)

/**
 * A text that is not empty, matching `pattern` where given (`expected` then says what it must be). The value
 * is shown in the error: check a secret with {@link secretRule}.
 */
export const textRule =
  (pattern?: RegExp, expected?: string): OptionRule =>
  (option, value) =>
    text(option, value, pattern, expected)

/** A secret (a password, a token, a key): a text that is not empty. The error names its kind, never the value. */
export const secretRule: OptionRule = secret

/** True or false. */
export const flagRule: OptionRule = flag

/** A function. */
export const functionRule: OptionRule = func

/** A value `rule` accepts, or a non-empty list of them (each named `option[i]`); `expected` says what it must be. */
export const oneOrListRule =
  (rule: OptionRule, expected: string): OptionRule =>
  (option, value) => {
    if (value === undefined) return undefined
    if (!Array.isArray(value)) return rule(option, value) === undefined ? undefined : invalid(option, value, expected)
    if (value.length === 0) return invalid(option, value, expected)
    return firstProblem(...value.map((item, i) => rule(`${option}[${i}]`, item)))
  }

/** An object, each field of it following its rule, named `option.field`. */
export const objectRule =
  (rules: Readonly<Record<string, OptionRule>>): OptionRule =>
  (option, value) =>
    object(option, value) ?? fieldsProblem(`${option}.`, value, rules)

const fieldsProblem = (prefix: string, value: unknown, rules: Readonly<Record<string, OptionRule>>): Problem => {
  if (value === undefined) return undefined
  const fields = value as Readonly<Record<string, unknown>>
  return firstProblem(...Object.entries(rules).map(([field, rule]) => rule(`${prefix}${field}`, fields[field])))
}

/**
 * A transport's options, before it connects: an object (or absent) whose fields follow their `rules`. Fails
 * with the first problem, an `InvalidConfig` naming the option and the value.
 */
export const options = (
  value: unknown,
  rules: Readonly<Record<string, OptionRule>>
): Result.Result<void, InvalidConfig> => resultOf(object("options", value) ?? fieldsProblem("", value, rules))

/** The options of an update: an object, or absent, whose `allowDiscard` is true or false. */
export const updateOptions = (options: UpdateTopicOptions | undefined): Result.Result<void, InvalidConfig> =>
  resultOf(firstProblem(object("options", options), flag("allowDiscard", options?.allowDiscard)))

const resultOf = (problem: Problem): Result.Result<void, InvalidConfig> =>
  problem === undefined ? Result.succeed(undefined) : Result.fail(problem)

/**
 * The id, key and headers of a record are acceptable and its payload is at most `maxPayloadBytes`.
 * The topic name is checked by {@link topicName}. Returns the first problem, or `undefined`.
 */
export const record = (record: OutgoingRecord, maxPayloadBytes: number): PublishError | undefined => {
  const id = validateText("message id", record.id)
  if (Result.isFailure(id)) return id.failure
  if (record.key !== undefined) {
    const key = validateText("key", record.key)
    if (Result.isFailure(key)) return key.failure
  }
  const headers = validateHeaders(record.headers)
  if (Result.isFailure(headers)) return headers.failure
  if (record.payload.byteLength > maxPayloadBytes)
    return new PayloadTooLarge({ topic: record.topic, size: record.payload.byteLength, limit: maxPayloadBytes })
  return undefined
}

// ---------------------------------------------------------------------------
// Settings that exist already

const none = "none"
const showCount = (value: number | undefined): string => (value === undefined ? none : String(value))
const showMillis = (value: number | undefined): string =>
  value === undefined ? none : Duration.format(Duration.millis(value))
const showAckWaits = (ackWaits: ReadonlyArray<number>): string =>
  ackWaits.length === 1 ? showMillis(ackWaits[0]) : `[${ackWaits.map(showMillis).join(", ")}]`

const topicShows: { readonly [K in keyof TopicSettings]-?: (value: TopicSettings[K]) => string } = {
  maxMessages: showCount,
  maxBytes: showCount,
  maxAge: showMillis,
  discard: String,
  dedupWindow: showMillis,
  replicas: String,
  retention: String
}

/**
 * The settings of `wanted` that differ from `stored`; a setting `wanted` leaves out is not compared. Both
 * sides resolved as a broker keeps them ({@link givenTopicSettings}, `TransportDefaults.topicSettingsOf`).
 */
export const topicDifferences = (
  stored: TopicSettings,
  wanted: Partial<TopicSettings>
): ReadonlyArray<SettingDifference> => {
  const differences: Array<SettingDifference> = []
  for (const key of Object.keys(topicShows) as Array<keyof TopicSettings>) {
    if (!Object.hasOwn(wanted, key) || wanted[key] === stored[key]) continue
    const show = topicShows[key] as (value: unknown) => string
    differences.push({ setting: key, stored: show(stored[key]), asked: show(wanted[key]) })
  }
  return differences
}

/**
 * The settings `config` gives, resolved as a broker keeps them: a dedup window is compared as the topic
 * would keep it, never longer than the max age asked (or, when none is asked, stored).
 */
const givenTopicSettings = (config: TopicConfig, stored: TopicSettings): Partial<TopicSettings> => {
  const given: { -readonly [K in keyof TopicSettings]?: TopicSettings[K] } = {}
  if (config.maxMessages !== undefined) given.maxMessages = config.maxMessages
  if (config.maxBytes !== undefined) given.maxBytes = config.maxBytes
  if (config.maxAge !== undefined) given.maxAge = TransportDefaults.maxAgeOf(config)
  if (config.discard !== undefined) given.discard = config.discard
  if (config.dedupWindow !== undefined)
    given.dedupWindow = TransportDefaults.dedupWindowOf({
      dedupWindow: config.dedupWindow,
      maxAge: config.maxAge ?? stored.maxAge ?? "Infinity"
    })
  if (config.replicas !== undefined) given.replicas = config.replicas
  if (config.retention !== undefined) given.retention = config.retention
  return given
}

/** `ensureTopic`'s rule for a topic that exists: every setting `config` gives equals the stored one. */
export const sameTopic = (
  stored: TopicSettings,
  config: TopicConfig,
  extra: ReadonlyArray<SettingDifference> = []
): Result.Result<void, InvalidConfig> => {
  const differences = [...topicDifferences(stored, givenTopicSettings(config, stored)), ...extra]
  return differences.length === 0
    ? Result.succeed(undefined)
    : Result.fail(
        refused(
          `topic "${config.name}" exists with other settings`,
          differences,
          "ask for what is stored, leave the setting out, or change it with updateTopic"
        )
      )
}

/** What a topic holds, as far as a change of its limits could remove it. */
export interface Held {
  readonly messages: number
  readonly bytes: number
  /** When its oldest message was stored, in epoch milliseconds; `undefined` when it holds none. */
  readonly oldestAt: number | undefined
}

/**
 * `updateTopic`'s rules: a change of retention is refused (JetStream cannot make it in place, so no transport
 * does), and a change that would remove stored messages is refused unless `allowDiscard`. The changes are
 * those of {@link topicDifferences}; `now` is the broker's time in epoch milliseconds.
 */
export const updatable = (
  name: string,
  held: Held,
  wanted: TopicSettings,
  changes: ReadonlyArray<SettingDifference>,
  allowDiscard: boolean | undefined,
  now: number
): Result.Result<void, InvalidConfig> => {
  const retention = changes.filter(({ setting }) => setting === "retention")
  if (retention.length > 0)
    return Result.fail(
      refused(`topic "${name}" cannot change its retention in place`, retention, "create a topic of another name")
    )
  if (allowDiscard === true) return Result.succeed(undefined)
  const removing = changes.filter(({ setting }) => {
    switch (setting) {
      case "maxMessages":
        return wanted.maxMessages !== undefined && held.messages > wanted.maxMessages
      case "maxBytes":
        return wanted.maxBytes !== undefined && held.bytes > wanted.maxBytes
      case "maxAge":
        return wanted.maxAge !== undefined && held.oldestAt !== undefined && held.oldestAt <= now - wanted.maxAge
      default:
        return false
    }
  })
  return removing.length === 0
    ? Result.succeed(undefined)
    : Result.fail(
        refused(
          `updating topic "${name}" would remove stored messages (it holds ${held.messages} messages, ${held.bytes} bytes${held.oldestAt === undefined ? "" : `, the oldest ${showMillis(Math.max(0, now - held.oldestAt))} old`})`,
          removing,
          "pass allowDiscard to remove them, oldest first"
        )
      )
}

/**
 * The settings of `wanted` that differ from `stored`; a setting `wanted` leaves out is not compared. The ack
 * waits are named `backoff` where either side has more than one, else `ackWait`.
 */
export const groupDifferences = (
  stored: GroupSettings,
  wanted: Partial<GroupSettings>
): ReadonlyArray<SettingDifference> => {
  const differences: Array<SettingDifference> = []
  const waits = wanted.ackWaits
  if (
    waits !== undefined &&
    (waits.length !== stored.ackWaits.length || waits.some((w, i) => w !== stored.ackWaits[i]))
  )
    differences.push({
      setting: waits.length > 1 || stored.ackWaits.length > 1 ? "backoff" : "ackWait",
      stored: showAckWaits(stored.ackWaits),
      asked: showAckWaits(waits)
    })
  if (Object.hasOwn(wanted, "maxDeliveries") && wanted.maxDeliveries !== stored.maxDeliveries)
    differences.push({
      setting: "maxDeliveries",
      stored: showCount(stored.maxDeliveries),
      asked: showCount(wanted.maxDeliveries)
    })
  return differences
}

/** The group settings subscription options give: the ack waits when `ackWait` or `backoff` is given, `maxDeliveries` when given. */
const givenGroupSettings = (options: SubscriptionOptions): Partial<GroupSettings> => ({
  ...(options.ackWait !== undefined || (options.backoff !== undefined && options.backoff.length > 0)
    ? { ackWaits: TransportDefaults.ackWaitsOf(options) }
    : {}),
  ...(options.maxDeliveries === undefined ? {} : { maxDeliveries: options.maxDeliveries })
})

/** `subscribe`'s rule for a group that exists: every group setting the options give equals the group's. */
export const sameGroup = (
  topic: string,
  group: string,
  stored: GroupSettings,
  options: SubscriptionOptions
): Result.Result<void, InvalidConfig> => {
  const differences = groupDifferences(stored, givenGroupSettings(options))
  return differences.length === 0
    ? Result.succeed(undefined)
    : Result.fail(
        refused(
          `group "${group}" of topic "${topic}" exists with other settings`,
          differences,
          "ask for what is stored, leave the setting out, or change it with updateGroup"
        )
      )
}

const refused = (what: string, differences: ReadonlyArray<SettingDifference>, remedy: string): InvalidConfig =>
  new InvalidConfig({
    reason: `${what}: ${differences.map((d) => `${d.setting} is ${d.stored}, ${d.asked} asked`).join("; ")}. Nothing changed; ${remedy}`,
    option: (differences[0] as SettingDifference).setting,
    differences
  })

/**
 * Logs each change a transport applied, one line per setting, with the topic (and the group), the setting
 * and both values as fields.
 */
export const logChanges = (
  changes: ReadonlyArray<SettingDifference>,
  where: { readonly topic: string; readonly group?: string }
): Effect.Effect<void> =>
  Effect.forEach(
    changes,
    (change) =>
      Effect.logInfo(
        `${where.group === undefined ? "" : `group "${where.group}" of `}topic "${where.topic}": ${change.setting} changed from ${change.stored} to ${change.asked}`
      ).pipe(Effect.annotateLogs({ ...where, setting: change.setting, from: change.stored, to: change.asked })),
    { discard: true }
  )
