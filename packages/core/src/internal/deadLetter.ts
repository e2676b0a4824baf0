import type { Delivery, OutgoingRecord } from "../Transport.ts"
import { isServerDirective } from "./names.ts"

/** Headers a dead letter carries besides the original ones. */
export const DeadLetterHeaders = {
  /** The original message id (the dead letter's own id also names the group, so that each group leaves one). */
  id: "sluice-dead-letter-id",
  /** Why the message could not be processed. */
  reason: "sluice-dead-letter-reason",
  /** The topic the message was consumed from. */
  topic: "sluice-dead-letter-topic",
  /** Its sequence in that topic. */
  sequence: "sluice-dead-letter-sequence",
  /** How many deliveries it had. */
  attempts: "sluice-dead-letter-attempts",
  /** The consumer group that gave up on it, empty for a broadcast subscription. */
  group: "sluice-dead-letter-group",
  /** When it was dead-lettered, ISO 8601. */
  at: "sluice-dead-letter-at"
} as const

const MAX_REASON_LENGTH = 1000
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must go
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g

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

/** The record that carries `delivery`, its payload untouched, to the dead-letter topic `deadLetterTopic`. */
export const deadLetterRecord = (
  deadLetterTopic: string,
  delivery: Delivery,
  group: string | undefined,
  reason: string,
  nowMillis: number
): OutgoingRecord => ({
  topic: deadLetterTopic,
  id: `${delivery.id}@${group ?? "broadcast"}`,
  key: delivery.key,
  headers: {
    ...copiedHeaders(delivery.headers),
    [DeadLetterHeaders.id]: delivery.id,
    [DeadLetterHeaders.reason]: headerSafe(reason),
    [DeadLetterHeaders.topic]: delivery.topic,
    [DeadLetterHeaders.sequence]: String(delivery.sequence),
    [DeadLetterHeaders.attempts]: String(delivery.attempt),
    [DeadLetterHeaders.group]: group ?? "",
    [DeadLetterHeaders.at]: new Date(nowMillis).toISOString()
  },
  payload: delivery.payload
})
