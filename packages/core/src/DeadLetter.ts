/**
 * Dead letters: where a message goes when it cannot be processed, and how to read it back. A dead letter is
 * the original message (its payload untouched, its headers but the NATS server's own) on the topic
 * `<topic>.dead-letter`, with Sluice's headers saying why it was given up, by which group, after how many
 * attempts. Read a dead-letter topic without a schema through {@link topicOf}.
 *
 * Invariant: a dead letter always passes every transport's checks but its payload's size (its id fits,
 * what does not fit of the original is left out and counted), and a dead-letter topic's payloads always
 * decode, so a dead letter is never dead-lettered again for its payload.
 *
 * Why: the writer and the reader are here together, so that the format has one definition.
 */
import { Buffer } from "node:buffer"
import { createHash } from "node:crypto"
import { Result } from "effect"
import * as Codec from "./Codec.ts"
import { isServerDirective, validateHeaders, validateText } from "./internal/names.ts"
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
  at: "sluice-dead-letter-at",
  /** How many of the original headers the dead letter could not carry (not valid as headers, or no room). */
  droppedHeaders: "sluice-dead-letter-dropped-headers"
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
  /** How many of its original headers the dead letter could not carry (not valid as headers, or no room). */
  readonly droppedHeaders: number
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

/**
 * Bytes a dead letter's headers take at most, Sluice's and the original ones (`name: value` and a line end
 * each, in UTF-8): with the message id and key beside them, they stay within the 4 KiB every transport keeps
 * for headers under its payload limit, so that a dead letter is stored wherever its payload could be.
 */
const HEADER_BUDGET_BYTES = 3 * 1024
/** Bytes of the reason at most. */
const MAX_REASON_BYTES = 1000
/** Characters of the original id kept in its header at most; a longer one is cut and marked with its digest. */
const MAX_ID_HEADER_LENGTH = 256
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must go
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g
const SLUICE_HEADER = /^sluice-/i

const bytesOf = (text: string): number => Buffer.byteLength(text, "utf8")
const headerBytes = (name: string, value: string): number => bytesOf(name) + bytesOf(value) + 4
const digestOf = (text: string): string => createHash("sha256").update(text).digest("hex")

/** Text fit for a header value: control characters (a schema error spans lines) become spaces. */
const flat = (text: string): string => text.replace(CONTROL, " ").trim()

/** `text` cut to at most `maxBytes` of UTF-8, marked with `…` where it was cut. */
const cut = (text: string, maxBytes: number): string => {
  if (bytesOf(text) <= maxBytes) return text
  let end = Math.min(text.length, maxBytes)
  while (end > 0 && bytesOf(text.slice(0, end)) > maxBytes - 3) end--
  return `${text.slice(0, end)}…`
}

/**
 * The original id as a header value: as it is when it is short and printable, else its printable start and
 * the digest of the whole, which tells two long ids apart.
 */
const idHeaderOf = (id: string): string => {
  const printable = id.replace(CONTROL, " ")
  return printable === id && id.length <= MAX_ID_HEADER_LENGTH
    ? id
    : `${printable.slice(0, MAX_ID_HEADER_LENGTH - 80)}… sha256:${digestOf(id)}`
}

/**
 * The dead letter's own id, one per message and group (so a retried dead-lettering is stored once): the
 * original id and the group when they make a valid id, else the digest of the original id and the group.
 */
const idOf = (id: string, group: string | undefined): string => {
  const owner = group ?? "broadcast"
  const plain = `${id}@${owner}`
  return Result.isSuccess(validateText("message id", plain)) ? plain : `sha256:${digestOf(id)}@${owner}`
}

/**
 * The original headers a dead letter can carry within `budget` bytes, in their order: the valid ones but
 * the server's directives (copied as they are, one would make the server refuse the dead letter), and
 * Sluice's own (the dead letter writes its own), with how many it had to leave out.
 */
const copiedHeaders = (
  headers: Readonly<Record<string, string>>,
  budget: number
): { readonly copied: Record<string, string>; readonly dropped: number } => {
  const copied: Record<string, string> = {}
  let room = budget
  let dropped = 0
  for (const name in headers) {
    const value = headers[name] as string
    if (isServerDirective(name) || SLUICE_HEADER.test(name)) continue
    const size = headerBytes(name, value)
    if (size > room || Result.isFailure(validateHeaders({ [name]: value }))) {
      dropped++
      continue
    }
    copied[name] = value
    room -= size
  }
  return { copied, dropped }
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

/**
 * The record that carries `delivery`, its payload untouched, to the dead-letter topic `deadLetterTopic`.
 * Whatever the message carried, the record passes every transport's checks but the payload's size: its id
 * always fits, its key is kept where it is a valid key, and the original headers it cannot carry (not valid
 * as headers, or beyond the room headers have) are left out and counted.
 */
export const record = (deadLetterTopic: string, delivery: Delivery, circumstances: Circumstances): OutgoingRecord => {
  const { group, reason, attempts, nowMillis } = circumstances
  const own: Record<string, string> = {
    [Headers.id]: idHeaderOf(delivery.id),
    [Headers.reason]: cut(flat(reason), MAX_REASON_BYTES),
    [Headers.topic]: delivery.topic,
    [Headers.sequence]: String(delivery.sequence),
    [Headers.attempts]: String(attempts),
    [Headers.deliveries]: String(delivery.deliveryCount),
    [Headers.group]: group ?? "",
    [Headers.at]: new Date(nowMillis).toISOString(),
    [Headers.droppedHeaders]: "0"
  }
  let ownBytes = 0
  for (const name in own) ownBytes += headerBytes(name, own[name] as string)
  const { copied, dropped } = copiedHeaders(delivery.headers, HEADER_BUDGET_BYTES - ownBytes)
  const key = delivery.key
  return {
    topic: deadLetterTopic,
    id: idOf(delivery.id, group),
    key: key !== undefined && Result.isSuccess(validateText("key", key)) ? key : undefined,
    headers: { ...copied, ...own, [Headers.droppedHeaders]: String(dropped) },
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
    droppedHeaders: Number(headers[Headers.droppedHeaders] ?? 0),
    deliveries: Number(headers[Headers.deliveries] ?? Number.NaN),
    group: group === undefined || group === "" ? undefined : group,
    at: new Date(headers[Headers.at] ?? Number.NaN)
  }
}

/** The original payload of a dead letter decoded with its topic's codec, or why it does not decode. */
export const payloadOf = <A>(letter: DeadLetter, topic: Topic.Topic<A>): Result.Result<A, string> =>
  topic.codec.decode(letter.payload)
