/**
 * A topic: a named, typed channel, with its codec, key and id functions and the settings it is created with.
 *
 * Invariant: its name and options are checked once, here, when it is defined: nothing downstream ever puts
 * an unchecked name into a broker subject.
 *
 * Why: topics are defined at start-up, so a bad definition stops the program before any message moves.
 */
import { Result, Schema } from "effect"
import * as Codec from "./Codec.ts"
import { InvalidName } from "./errors.ts"
import { MAX_TOPIC_NAME_LENGTH, validateTopicName } from "./internal/names.ts"
import { firstProblem, func, invalid } from "./internal/options.ts"
import type { TopicConfig } from "./Transport.ts"
import * as TransportChecks from "./TransportChecks.ts"

/** A named channel whose messages are values of type `A`. */
export interface Topic<A> {
  readonly name: string
  readonly codec: Codec.Codec<A>
  /** The key of a value: messages with one key are processed in order by per-key consumers. */
  readonly key: ((value: A) => string) | undefined
  /** A stable id of a value: a republished value with the same id is dropped by the broker's dedup window. */
  readonly id: ((value: A) => string) | undefined
  /** Retention, dedup window and replicas the topic is created with. */
  readonly config: TopicConfig
  /** The topic where messages that could not be processed go, with their reason. */
  readonly deadLetter: string
}

/** Options of {@link make}. */
export interface TopicOptions<A, I> extends Omit<TopicConfig, "name"> {
  /** Dot-separated tokens of `A-Z a-z 0-9 _ -`, at most 188 characters, such as `payments.results`. */
  readonly name: string
  /** The schema values are validated with on publish and on receive. */
  readonly schema: Schema.Codec<A, I>
  /** The wire format; JSON through `schema` when absent. */
  readonly codec?: Codec.Codec<A>
  /** Derives a message's key from its value (an order id, an account id). */
  readonly key?: (value: A) => string
  /** Derives a stable message id from its value, so that republishing it is recognised as a duplicate. */
  readonly id?: (value: A) => string
}

/** The suffix of a topic's dead-letter topic. */
export const DEAD_LETTER_SUFFIX = "dead-letter"

/** The name of the dead-letter topic of `topic`. */
export const deadLetterOf = (topic: string): string => `${topic}.${DEAD_LETTER_SUFFIX}`

/**
 * Checks the name of a topic to define: what every transport accepts, and short enough that its
 * dead-letter topic is a valid name too. The failure says what is wrong with it.
 */
export const validateName = (name: string): Result.Result<string, InvalidName> => {
  const longest = MAX_TOPIC_NAME_LENGTH - deadLetterOf("").length
  if (name.length > longest)
    return Result.fail(
      new InvalidName({
        kind: "topic",
        value: name,
        reason: `it has ${name.length} characters; a topic may have at most ${longest}, so that its dead-letter topic fits in ${MAX_TOPIC_NAME_LENGTH}`
      })
    )
  return validateTopicName(name)
}

/**
 * Defines a topic.
 *
 * @throws {InvalidConfig} when an option is not acceptable (a limit that is not a whole number above zero, an
 * unknown discard policy, a `key` that is not a function, ...), naming the option and the value.
 * @throws {InvalidName} when the name is not dot-separated tokens of `A-Z a-z 0-9 _ -` (no empty
 * token, no wildcard, no whitespace or control character, at most 188 characters, so that the
 * dead-letter topic's name fits in the 200 every transport accepts). Topics are
 * defined once at start-up, so a bad name stops the program before any message moves.
 */
export const make = <A, I>(options: TopicOptions<A, I>): Topic<A> => {
  const { name, schema, codec, key, id, ...config } = options
  const valid = validateName(name)
  if (Result.isFailure(valid)) throw valid.failure
  const problem = firstProblem(
    codec === undefined && !Schema.isSchema(schema) ? invalid("schema", schema, "an Effect Schema") : undefined,
    codec === undefined || (typeof codec.encode === "function" && typeof codec.decode === "function")
      ? undefined
      : invalid("codec", codec, "a Codec (encode and decode functions)"),
    func("key", key),
    func("id", id)
  )
  if (problem !== undefined) throw problem
  const limits = TransportChecks.topicConfig({ ...config, name })
  if (Result.isFailure(limits)) throw limits.failure
  return {
    name,
    codec: codec ?? Codec.json(schema),
    key,
    id,
    config: { ...config, name },
    deadLetter: deadLetterOf(name)
  }
}
