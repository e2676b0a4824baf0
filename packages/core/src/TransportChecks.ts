/**
 * The checks every transport applies before it touches a broker, shared so
 * that every transport refuses exactly the same names, records and settings
 * (the conformance suite checks that they do). A transport calls them; users
 * never need to.
 */
import { Result } from "effect"
import { type InvalidConfig, type InvalidName, PayloadTooLarge, type PublishError } from "./errors.ts"
import { validateGroupName, validateHeaders, validateText, validateTopicName } from "./internal/names.ts"
import { count, duration, durations, firstProblem, invalid, oneOf, type Problem } from "./internal/options.ts"
import type { StartPosition } from "./StartPosition.ts"
import type { OutgoingRecord, SubscriptionOptions, TopicConfig } from "./Transport.ts"

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
      duration("dedupWindow", config.dedupWindow),
      config.replicas !== undefined && config.replicas > MAX_REPLICAS
        ? invalid("replicas", config.replicas, `a whole number from 1 to ${MAX_REPLICAS}`)
        : count("replicas", config.replicas)
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

/**
 * A transport's own duration option, where given: a duration above zero (or zero too, with `zero`), finite
 * (or `"Infinity"` too, with `infinite`), as the port's durations are checked.
 */
export const durationOption = (
  option: string,
  value: unknown,
  rule: { readonly zero?: boolean; readonly infinite?: boolean } = {}
): Result.Result<void, InvalidConfig> => resultOf(duration(option, value, rule))

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
