/**
 * The checks every transport applies before it touches a broker, shared so
 * that every transport refuses exactly the same names, records and settings
 * (the conformance suite checks that they do). A transport calls them; users
 * never need to.
 */
import { Duration, Result } from "effect"
import { InvalidConfig, type InvalidName, PayloadTooLarge, type PublishError } from "./errors.ts"
import { validateGroupName, validateHeaders, validateText, validateTopicName } from "./internal/names.ts"
import type { OutgoingRecord, SubscriptionOptions, TopicConfig } from "./Transport.ts"

/** A topic name: dot-separated tokens of `[A-Za-z0-9_-]`, at most 200 characters. */
export const topicName: (name: string) => Result.Result<string, InvalidName> = validateTopicName

/** A group name: one token of `[A-Za-z0-9_-]`, at most 64 characters. */
export const groupName: (name: string) => Result.Result<string, InvalidName> = validateGroupName

const positive = (what: string, value: number | undefined): Result.Result<void, InvalidConfig> =>
  value === undefined || (Number.isFinite(value) && value > 0)
    ? Result.succeed(undefined)
    : Result.fail(new InvalidConfig({ reason: `${what} must be a positive number, got ${value}` }))

const allPositive = (
  entries: ReadonlyArray<readonly [string, number | undefined]>
): Result.Result<void, InvalidConfig> => {
  for (const [what, value] of entries) {
    const checked = positive(what, value)
    if (Result.isFailure(checked)) return checked
  }
  return Result.succeed(undefined)
}

const millis = (duration: Duration.Input | undefined): number | undefined =>
  duration === undefined ? undefined : Duration.toMillis(duration)

/** The limits of a topic are positive where given. The name is checked by {@link topicName}. */
export const topicConfig = (config: TopicConfig): Result.Result<void, InvalidConfig> =>
  allPositive([
    ["maxMessages", config.maxMessages],
    ["maxBytes", config.maxBytes],
    ["maxAge", millis(config.maxAge)],
    ["dedupWindow", millis(config.dedupWindow)],
    ["replicas", config.replicas]
  ])

/** The bounds and durations of a subscription are positive where given. Names are checked separately. */
export const subscription = (options: SubscriptionOptions): Result.Result<void, InvalidConfig> =>
  allPositive([
    ["maxInFlight", options.maxInFlight],
    ["maxDeliveries", options.maxDeliveries],
    ["ackWait", millis(options.ackWait)],
    ...(options.backoff ?? []).map((entry) => ["backoff", millis(entry)] as const)
  ])

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
