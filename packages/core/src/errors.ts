/**
 * The typed errors of Sluice.
 *
 * Invariant: every rejection of the library is one of these, each with a `_tag`, and each says in its
 * `message` what went wrong, naming what it was given and never a secret.
 *
 * Why: a caller matches a tag rather than a text, and a log line reads well without formatting.
 */
import { Data, Duration } from "effect"
import type { PublishReceipt, SettingDifference } from "./Transport.ts"

/** What kind of name was rejected. */
export type NameKind = "topic" | "group" | "key" | "header" | "message id"

/**
 * A topic name, group name, key, header or message id that Sluice refuses.
 * Names end up in broker subjects and headers, so anything that could widen a
 * subscription (wildcards, separators, control characters) is rejected.
 */
export class InvalidName extends Data.TaggedError("InvalidName")<{
  readonly kind: NameKind
  readonly value: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid ${this.kind} ${JSON.stringify(this.value.length > 80 ? `${this.value.slice(0, 80)}…` : this.value)}: ${this.reason}`
  }
}

/** A value did not match its topic's schema when it was published. Nothing was sent. */
export class EncodeError extends Data.TaggedError("EncodeError")<{
  readonly topic: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot encode a message for topic "${this.topic}": ${this.reason}`
  }
}

/** The encoded payload is larger than the transport accepts. Nothing was sent. */
export class PayloadTooLarge extends Data.TaggedError("PayloadTooLarge")<{
  readonly topic: string
  /** Size of the encoded payload, in bytes. */
  readonly size: number
  /** Largest payload the transport accepts, in bytes. */
  readonly limit: number
}> {
  override get message(): string {
    return `payload of ${this.size} bytes for topic "${this.topic}" exceeds the limit of ${this.limit} bytes`
  }
}

/** The topic reached a retention limit and its discard policy is "new": the publish was rejected. */
export class TopicFull extends Data.TaggedError("TopicFull")<{
  readonly topic: string
  /** Which limit was reached. */
  readonly limit: "messages" | "bytes"
}> {
  override get message(): string {
    return `topic "${this.topic}" is full (its ${this.limit} limit is reached and it rejects new messages)`
  }
}

/** The topic does not exist on the transport: it was never ensured. */
export class TopicNotFound extends Data.TaggedError("TopicNotFound")<{
  readonly topic: string
}> {
  override get message(): string {
    return `topic "${this.topic}" does not exist`
  }
}

/** The group does not exist on the topic. */
export class GroupNotFound extends Data.TaggedError("GroupNotFound")<{
  readonly topic: string
  readonly group: string
}> {
  override get message(): string {
    return `group "${this.group}" does not exist on topic "${this.topic}"`
  }
}

/**
 * The broker could not be reached or did not answer in time. Transient: the
 * operation may succeed when retried. A publish that ends with this error was
 * not confirmed and may or may not be stored; retry it with the same message id.
 */
export class TransportUnavailable extends Data.TaggedError("TransportUnavailable")<{
  readonly operation: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `transport unavailable during ${this.operation}: ${this.reason}`
  }
}

/**
 * The broker refused the credentials (a wrong password, token, nkey or credentials file, or a user not
 * authorized to connect). Permanent: connecting again with the same credentials fails the same way. It
 * carries the broker's own words and address, never a secret.
 */
export class AuthenticationFailed extends Data.TaggedError("AuthenticationFailed")<{
  readonly operation: string
  /** The broker's address (several, comma-separated, when it was given several), without credentials. */
  readonly server: string
  /** What the broker said, with every secret removed. */
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `authentication failed during ${this.operation} at ${this.server}: ${this.reason}`
  }
}

/**
 * A name Sluice needs is taken on the broker by something it cannot use or change: for example a group name
 * already used by a consumer of another kind (a push consumer, another filter subject or ack policy), or one
 * whose settings the broker refuses to change. Permanent: asking again fails the same way until the other
 * thing is removed, or another name is used. It carries the broker's own words and address, never a secret.
 */
export class Conflict extends Data.TaggedError("Conflict")<{
  readonly operation: string
  /** The broker's address, without credentials. */
  readonly server: string
  readonly topic: string
  /** The group whose name is taken, when it is a group's. */
  readonly group?: string | undefined
  /** What is in the way, with the broker's words where it said why. */
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    const what = this.group === undefined ? `topic "${this.topic}"` : `group "${this.group}" of topic "${this.topic}"`
    return `conflict during ${this.operation} at ${this.server}: ${what} ${this.reason}`
  }
}

/** A handler did not finish within the consumer's `handlerTimeout`: it was interrupted (a Promise handler's signal aborted), and the attempt counts as failed. */
export class HandlerTimeout extends Data.TaggedError("HandlerTimeout")<{
  readonly topic: string
  /** The limit it overran, in milliseconds. */
  readonly timeoutMillis: number
}> {
  override get message(): string {
    return `a handler of topic "${this.topic}" did not finish within ${Duration.format(Duration.millis(this.timeoutMillis))}`
  }
}

/**
 * An option, or the configuration of a topic or subscription, is not acceptable, or differs from the
 * settings of the topic or group that exists. Nothing was changed.
 */
export class InvalidConfig extends Data.TaggedError("InvalidConfig")<{
  /** What is wrong, naming the option and the value given. */
  readonly reason: string
  /** The option at fault, where one is (`concurrency`, `ackWait`, `backoff[1]`, ...); the first of `differences`. */
  readonly option?: string
  /** Where a topic or group exists with other settings: each of them, with what is stored and what was asked. */
  readonly differences?: ReadonlyArray<SettingDifference>
}> {
  override get message(): string {
    return `invalid configuration: ${this.reason}`
  }
}

/** Errors of the Transport port other than publishing. */
export type TransportError =
  | InvalidName
  | InvalidConfig
  | TopicNotFound
  | GroupNotFound
  | Conflict
  | TransportUnavailable

/**
 * Errors of connecting a transport (building its layer): a setting it cannot use (`InvalidConfig`), credentials
 * the broker refused (`AuthenticationFailed`, permanent), or a broker it could not reach (`TransportUnavailable`,
 * transient).
 */
export type ConnectError = InvalidConfig | AuthenticationFailed | TransportUnavailable

/** Why a record was not stored. None of these means it was. */
export type RecordError =
  | InvalidName
  | InvalidConfig
  | TopicNotFound
  | PayloadTooLarge
  | TopicFull
  | TransportUnavailable

/**
 * A batch of several records failed part-way: some were stored, each with its receipt in `receipts` (in the
 * batch's order, `undefined` for those not confirmed), and `cause` says why the others were not. Publish
 * those without a receipt again, with the same ids: the dedup window drops any that was stored after all.
 */
export class PartiallyPublished extends Data.TaggedError("PartiallyPublished")<{
  readonly topic: string
  readonly receipts: ReadonlyArray<PublishReceipt | undefined>
  readonly cause: RecordError
}> {
  /** How many records were stored. */
  get stored(): number {
    return this.receipts.filter((receipt) => receipt !== undefined).length
  }

  override get message(): string {
    return `${this.stored} of ${this.receipts.length} messages for topic "${this.topic}" were stored before the publish failed: ${this.cause.message}`
  }
}

/** Errors a publish can end with: nothing of the batch was stored, or (`PartiallyPublished`) only some. */
export type PublishError = RecordError | PartiallyPublished

/** Whether a publish that failed with `error` may succeed when retried with the same ids. */
export const isTransient = (error: PublishError): boolean =>
  error._tag === "TransportUnavailable" || (error._tag === "PartiallyPublished" && isTransient(error.cause))

/** Errors of publishing a typed value through the Bus. */
export type BusPublishError = PublishError | EncodeError
