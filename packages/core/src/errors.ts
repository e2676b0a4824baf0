/**
 * The typed errors of Sluice. Every error says what went wrong in its
 * `message`, so it reads well in a log without further formatting.
 */
import { Data, Duration } from "effect"
import type { SettingDifference } from "./Transport.ts"

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
export type TransportError = InvalidName | InvalidConfig | TopicNotFound | GroupNotFound | TransportUnavailable

/** Errors a publish can end with. None of them means the message was stored. */
export type PublishError =
  | InvalidName
  | InvalidConfig
  | TopicNotFound
  | PayloadTooLarge
  | TopicFull
  | TransportUnavailable

/** Errors of publishing a typed value through the Bus. */
export type BusPublishError = PublishError | EncodeError
