/**
 * Dead letters: where a message goes when it cannot be processed, and how to read it back. A dead letter is
 * the original message (its payload untouched, its headers but the NATS server's own) on the topic
 * `<topic>.dead-letter`, with Sluice's headers saying why it was given up, by which group, after how many
 * attempts. Both the writer and the reader are here, so that the format has one definition.
 *
 * Read a dead-letter topic without a schema through {@link topicOf}: its payloads are bytes, which always
 * decode, so a dead letter is never dead-lettered again.
 */
import type { Result } from "effect"
import * as Codec from "./Codec.ts"
import { isServerDirective } from "./internal/names.ts"
import * as Topic from "./Topic.ts"
import type { Delivery, OutgoingRecord } from "./Transport.ts"

/** Headers a dead letter carries besides the original ones. */
export const Headers = {
  /** The original message id (the dead letter's own id also names the group, so that each group leaves one). */
  id: "sluice-dead-letter-id",
  /** Why the message could not be processed. */
  reason: "sluice-dead-letter-reason",
  /** The topic the message was consumed from. */
  topic: "sluice-dead-letter-topic",
  /** Its sequence in that topic. */
  sequence: "sluice-dead-letter-sequence",
  /** How many times its handler failed (0 when it never ran: undecodable, or abandoned). */
  attempts: "sluice-dead-letter-attempts",
  /** How many times the broker delivered it to the group. */
  deliveries: "sluice-dead-letter-deliveries",
  /** The consumer group that gave up on it, empty for a broadcast subscription. */
  group: "sluice-dead-letter-group",
  /** When it was dead-lettered, ISO 8601. */
  at: "sluice-dead-letter-at"
} as const

/** A dead letter as read back: the original message, and why and when it was given up. */
export interface DeadLetter {
  /** The topic the message was consumed from. */
  readonly topic: string
  /** Its sequence in that topic. */
  readonly sequence: number
  /** Its message id. */
  readonly id: string
  /** Its key, when it had one. */
  readonly key: string | undefined
  /** Its headers, without Sluice's own. */
  readonly headers: Readonly<Record<string, string>>
  /** Its payload, the bytes as they were published. */
  readonly payload: Uint8Array
  /** Why it could not be processed. */
  readonly reason: string
  /** How many times its handler failed (0 when it never ran: undecodable, or abandoned). */
  readonly attempts: number
  /** How many times the broker delivered it to the group that gave up. */
  readonly deliveries: number
  /** The consumer group that gave up on it; `undefined` for a broadcast subscription. */
  readonly group: string | undefined
  /** When it was dead-lettered. */
  readonly at: Date
}

/** What the reader needs of a received dead letter: a `Message<Uint8Array>` and a `Delivery` both have it. */
export interface Received {
  readonly key: string | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
}

/**
 * The topic that holds the dead letters of `topic`, read as bytes (see {@link read}): they always decode, so
 * consuming it never dead-letters a dead letter for its payload.
 */
export const topicOf = <A>(topic: Topic.Topic<A>): Topic.Topic<Uint8Array> => {
  const name = topic.deadLetter
  return {
    name,
    codec: Codec.bytes,
    key: undefined,
    id: undefined,
    config: { name },
    deadLetter: Topic.deadLetterOf(name)
  }
}

const MAX_REASON_LENGTH = 1000
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must go
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g
const SLUICE_HEADER = /^sluice-/i

/** A header-safe reason: control characters (a schema error spans lines) become spaces. */
const headerSafe = (reason: string): string => {
  const flat = reason.replace(CONTROL, " ").trim()
  return flat.length > MAX_REASON_LENGTH ? `${flat.slice(0, MAX_REASON_LENGTH)}…` : flat
}

/** The delivery's headers but the server's directives: copied as they are, one would make the server refuse the dead letter. */
const copiedHeaders = (headers: Readonly<Record<string, string>>): Record<string, string> => {
  const copied: Record<string, string> = {}
  for (const name in headers) if (!isServerDirective(name)) copied[name] = headers[name] as string
  return copied
}

/** Why and when a delivery is dead-lettered, by whom, after how many handler attempts. */
export interface Circumstances {
  /** The group giving up, `undefined` for a broadcast subscription. */
  readonly group: string | undefined
  readonly reason: string
  /** How many times its handler failed. */
  readonly attempts: number
  /** When, in milliseconds since the epoch. */
  readonly nowMillis: number
}

/** The record that carries `delivery`, its payload untouched, to the dead-letter topic `deadLetterTopic`. */
export const record = (deadLetterTopic: string, delivery: Delivery, circumstances: Circumstances): OutgoingRecord => {
  const { group, reason, attempts, nowMillis } = circumstances
  return {
    topic: deadLetterTopic,
    id: `${delivery.id}@${group ?? "broadcast"}`,
    key: delivery.key,
    headers: {
      ...copiedHeaders(delivery.headers),
      [Headers.id]: delivery.id,
      [Headers.reason]: headerSafe(reason),
      [Headers.topic]: delivery.topic,
      [Headers.sequence]: String(delivery.sequence),
      [Headers.attempts]: String(attempts),
      [Headers.deliveries]: String(delivery.deliveryCount),
      [Headers.group]: group ?? "",
      [Headers.at]: new Date(nowMillis).toISOString()
    },
    payload: delivery.payload
  }
}

/**
 * Reads a received dead letter; `undefined` when the message does not carry a dead letter's headers (it was
 * published to the dead-letter topic by other means).
 */
export const read = (received: Received): DeadLetter | undefined => {
  const { headers } = received
  const topic = headers[Headers.topic]
  const reason = headers[Headers.reason]
  const id = headers[Headers.id]
  if (topic === undefined || reason === undefined || id === undefined) return undefined
  const original: Record<string, string> = {}
  for (const name in headers) if (!SLUICE_HEADER.test(name)) original[name] = headers[name] as string
  const group = headers[Headers.group]
  return {
    topic,
    sequence: Number(headers[Headers.sequence] ?? Number.NaN),
    id,
    key: received.key,
    headers: original,
    payload: received.payload,
    reason,
    attempts: Number(headers[Headers.attempts] ?? Number.NaN),
    deliveries: Number(headers[Headers.deliveries] ?? Number.NaN),
    group: group === undefined || group === "" ? undefined : group,
    at: new Date(headers[Headers.at] ?? Number.NaN)
  }
}

/** The original payload of a dead letter decoded with its topic's codec, or why it does not decode. */
export const payloadOf = <A>(letter: DeadLetter, topic: Topic.Topic<A>): Result.Result<A, string> =>
  topic.codec.decode(letter.payload)
