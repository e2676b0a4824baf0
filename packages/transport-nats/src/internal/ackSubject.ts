/**
 * What a delivery needs from a JetStream message's ack subject (its reply subject): the delivery count,
 * the stream sequence and the store time, read in place from the bytes the subject arrived in.
 *
 * The server writes one of two forms (nats-server 2.9 the first):
 * - `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>`
 * - `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>[.<token>...]`
 *
 * The second may grow tokens at its end; like the client, the reader ignores them.
 *
 * Invariant: it reads what the client's `JsMsg.info` reads from either form, and refuses (`undefined`)
 * anything else; it builds no string.
 *
 * Why: `JsMsg.info` decodes the subject and splits it into a dozen strings for every message, a large share
 * of what a consumer allocates ("Where a consumed message's time goes", bench/README.md).
 */

export interface AckSubjectInfo {
  /** How many times the message was delivered, this delivery included. */
  readonly deliveryCount: number
  readonly streamSequence: number
  /** When the stream stored the message, in milliseconds since the epoch. */
  readonly publishedAtMillis: number
}

const encoder = new TextEncoder()
const PREFIX = encoder.encode("$JS.ACK.")
const DOT = 0x2e
const DIGIT_0 = 0x30
/** Tokens of the long form before its tail: the reader needs no more. */
const LONG_FORM_TOKENS = 11
/** Where each token ends, reused: reading is synchronous. */
const ends = new Int32Array(LONG_FORM_TOKENS)
/** Nanosecond digits dropped to read the timestamp in whole milliseconds. */
const NANOS_PER_MILLI_DIGITS = 6

/** Where token `token` starts and ends, once `ends` holds the subject's token ends. */
const startOf = (token: number): number => (ends[token - 1] as number) + 1
const endOf = (token: number): number => ends[token] as number

/** `bytes` starts with `start`. */
const startsWith = (bytes: Uint8Array, start: Uint8Array): boolean => {
  if (bytes.length < start.length) return false
  for (let i = 0; i < start.length; i++) if (bytes[i] !== start[i]) return false
  return true
}

/** The decimal number `subject[from, to)`, or NaN when it is empty or not all digits. */
const decimal = (subject: Uint8Array, from: number, to: number): number => {
  if (from >= to) return Number.NaN
  let value = 0
  for (let i = from; i < to; i++) {
    const digit = (subject[i] as number) - DIGIT_0
    if (digit < 0 || digit > 9) return Number.NaN
    value = value * 10 + digit
  }
  return value
}

/** The delivery count, stream sequence and store time an ack subject carries; `undefined` when it is not one. */
export const readAckSubject = (subject: Uint8Array): AckSubjectInfo | undefined => {
  if (!startsWith(subject, PREFIX)) return undefined
  let dots = 0
  for (let at = 0; at < subject.length && dots < LONG_FORM_TOKENS; at++) if (subject[at] === DOT) ends[dots++] = at
  // Short of the long form, the last token ends with the subject; past it, what follows is its tail.
  if (dots < LONG_FORM_TOKENS) ends[dots] = subject.length
  const tokens = dots + 1
  // The index of the <delivered> token: the next four follow it.
  const delivered = tokens === 9 ? 4 : tokens >= LONG_FORM_TOKENS ? 6 : -1
  if (delivered < 0) return undefined
  const deliveryCount = decimal(subject, startOf(delivered), endOf(delivered))
  const streamSequence = decimal(subject, startOf(delivered + 1), endOf(delivered + 1))
  // Milliseconds from the nanosecond digits without their last six: exact, where nanoseconds exceed 2^53.
  const timestampStart = startOf(delivered + 3)
  const millisEnd = endOf(delivered + 3) - NANOS_PER_MILLI_DIGITS
  const publishedAtMillis = millisEnd > timestampStart ? decimal(subject, timestampStart, millisEnd) : 0
  if (Number.isNaN(deliveryCount) || Number.isNaN(streamSequence) || Number.isNaN(publishedAtMillis)) return undefined
  return { deliveryCount, streamSequence, publishedAtMillis }
}
