/** NATS client errors as Sluice's typed errors, with secrets removed. */
import { GroupNotFound, TopicFull, TopicNotFound, TransportUnavailable } from "@sluice/core"
import type { Redactor } from "./secrets.ts"

/** The message of an error, or the text of anything thrown. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** A failure to reach the server or get an answer: transient. */
export const unavailable = (operation: string, error: unknown, redact: Redactor): TransportUnavailable =>
  new TransportUnavailable({ operation, reason: redact.text(messageOf(error)), cause: redact.error(error) })

/** The server's answer when a stream with discard "new" is at a limit, as `TopicFull`. */
export const topicFullOf = (topic: string, error: unknown): TopicFull | undefined => {
  const message = messageOf(error)
  if (/maximum messages/i.test(message)) return new TopicFull({ topic, limit: "messages" })
  if (/maximum bytes/i.test(message)) return new TopicFull({ topic, limit: "bytes" })
  return undefined
}

/** The request named a stream that does not exist. */
export const isStreamNotFound = (error: unknown): boolean =>
  error instanceof Error && error.name === "StreamNotFoundError"

/** The request named a consumer that does not exist. */
export const isConsumerNotFound = (error: unknown): boolean =>
  error instanceof Error && error.name === "ConsumerNotFoundError"

/**
 * A failed JetStream API call as Sluice's error: a missing stream is `TopicNotFound`, a missing consumer
 * `GroupNotFound` (when the call named a group), anything else the server being unavailable.
 */
export function apiFailure(
  operation: string,
  error: unknown,
  redact: Redactor,
  topic: string
): TopicNotFound | TransportUnavailable
export function apiFailure(
  operation: string,
  error: unknown,
  redact: Redactor,
  topic: string,
  group: string
): TopicNotFound | GroupNotFound | TransportUnavailable
export function apiFailure(
  operation: string,
  error: unknown,
  redact: Redactor,
  topic: string,
  group?: string
): TopicNotFound | GroupNotFound | TransportUnavailable {
  if (isStreamNotFound(error)) return new TopicNotFound({ topic })
  if (group !== undefined && isConsumerNotFound(error)) return new GroupNotFound({ topic, group })
  return unavailable(operation, error, redact)
}

/** The request found no server to answer it: with JetStream up, the subject has no stream. */
export const isNoResponders = (error: unknown): boolean => {
  const name = error instanceof Error ? error.name : ""
  return name === "JetStreamNotEnabled" || name === "NoRespondersError" || /no responders/i.test(messageOf(error))
}
