/**
 * What a delivery needs from a JetStream message's ack subject (its reply subject), read in place. The
 * client's `JsMsg.info` splits the subject into a dozen strings and splices the array for every message:
 * on a consumer that handles a trivial message that is about a sixth of all it allocates.
 *
 * The server writes one of two forms (nats-server 2.9 the first):
 * - `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>`
 * - `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>[.<token>...]`
 *
 * The second may grow tokens at its end; like the client, the reader ignores them.
 *
 * A subscriber reads the ack subjects of one consumer, almost all of the first form: {@link ackSubjectReader}
 * recognises that form by its known start and reads only the numbers after it.
 */

export interface AckSubjectInfo {
  /** How many times the message was delivered, this delivery included. */
  readonly deliveryCount: number
  readonly streamSequence: number
  /** When the stream stored the message, in milliseconds since the epoch. */
  readonly publishedAtMillis: number
}

const PREFIX = "$JS.ACK."
/** Tokens of the long form before its tail: the reader needs no more. */
const LONG_FORM_TOKENS = 11
/** Where each token ends, reused: reading is synchronous. */
const ends = new Int32Array(LONG_FORM_TOKENS)
/** Nanosecond digits dropped to read the timestamp in whole milliseconds. */
const NANOS_PER_MILLI_DIGITS = 6

/** Where token `token` starts and ends, once `ends` holds the subject's token ends. */
const startOf = (token: number): number => (ends[token - 1] as number) + 1
const endOf = (token: number): number => ends[token] as number

/** The decimal number `subject[from, to)`, or NaN when it is empty or not all digits. */
const decimal = (subject: string, from: number, to: number): number => {
  if (from >= to) return Number.NaN
  let value = 0
  for (let i = from; i < to; i++) {
    const digit = subject.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) return Number.NaN
    value = value * 10 + digit
  }
  return value
}

/**
 * The numbers of an ack subject, given where its `<delivered>` token starts and where it and the next three
 * tokens end; `undefined` when one of those read is not a number.
 */
const infoOf = (
  subject: string,
  deliveredStart: number,
  deliveredEnd: number,
  sequenceEnd: number,
  consumerSequenceEnd: number,
  timestampEnd: number
): AckSubjectInfo | undefined => {
  const deliveryCount = decimal(subject, deliveredStart, deliveredEnd)
  const streamSequence = decimal(subject, deliveredEnd + 1, sequenceEnd)
  // Milliseconds from the nanosecond digits without their last six: exact, where nanoseconds exceed 2^53.
  const timestampStart = consumerSequenceEnd + 1
  const millisEnd = timestampEnd - NANOS_PER_MILLI_DIGITS
  const publishedAtMillis = millisEnd > timestampStart ? decimal(subject, timestampStart, millisEnd) : 0
  if (Number.isNaN(deliveryCount) || Number.isNaN(streamSequence) || Number.isNaN(publishedAtMillis)) return undefined
  return { deliveryCount, streamSequence, publishedAtMillis }
}

/** The delivery count, stream sequence and store time an ack subject carries; `undefined` when it is not one. */
export const readAckSubject = (subject: string): AckSubjectInfo | undefined => {
  if (!subject.startsWith(PREFIX)) return undefined
  let dots = 0
  for (let at = subject.indexOf("."); at >= 0 && dots < LONG_FORM_TOKENS; at = subject.indexOf(".", at + 1))
    ends[dots++] = at
  // Short of the long form, the last token ends with the subject; past it, what follows is its tail.
  if (dots < LONG_FORM_TOKENS) ends[dots] = subject.length
  const tokens = dots + 1
  // The index of the <delivered> token: the next four follow it.
  const delivered = tokens === 9 ? 4 : tokens >= LONG_FORM_TOKENS ? 6 : -1
  if (delivered < 0) return undefined
  return infoOf(
    subject,
    startOf(delivered),
    endOf(delivered),
    endOf(delivered + 1),
    endOf(delivered + 2),
    endOf(delivered + 3)
  )
}

/**
 * Reads the ack subjects of one consumer as {@link readAckSubject} does. One of the first form starts with
 * `$JS.ACK.<stream>.<consumer>.`, which the reader skips: it looks for the four dots after it, not for all
 * ten. Anything else is read in full.
 */
export const ackSubjectReader = (
  stream: string,
  consumer: string
): ((subject: string) => AckSubjectInfo | undefined) => {
  const start = `${PREFIX}${stream}.${consumer}.`
  return (subject) => {
    if (!subject.startsWith(start)) return readAckSubject(subject)
    const deliveredEnd = subject.indexOf(".", start.length)
    const sequenceEnd = deliveredEnd < 0 ? -1 : subject.indexOf(".", deliveredEnd + 1)
    const consumerSequenceEnd = sequenceEnd < 0 ? -1 : subject.indexOf(".", sequenceEnd + 1)
    const timestampEnd = consumerSequenceEnd < 0 ? -1 : subject.indexOf(".", consumerSequenceEnd + 1)
    // Short of the first form's nine tokens, or past them: the full reading decides.
    if (timestampEnd < 0 || subject.includes(".", timestampEnd + 1)) return readAckSubject(subject)
    return infoOf(subject, start.length, deliveredEnd, sequenceEnd, consumerSequenceEnd, timestampEnd)
  }
}
