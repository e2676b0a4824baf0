/**
 * How Sluice names map onto JetStream: a topic's subject and stream, a consumer's pull subject, and the
 * headers Sluice adds on the wire.
 *
 * Invariant: a topic's subject is its name, and two topics never share a stream: a stream's name is the
 * topic's with `.` (not allowed in stream names) replaced by `~`, a character topic names cannot hold.
 *
 * Why: plain NATS clients publish to `orders.created`, and read from it, as they would expect.
 */

/** The stream that stores a topic. */
export const streamName = (topic: string): string => topic.replaceAll(".", "~")

/** Where a pull for the next messages of a stream's consumer is published (the JetStream API's default prefix). */
export const pullSubject = (stream: string, consumer: string): string =>
  `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`

/** Headers Sluice adds on the wire and removes again on receipt. */
export const WireHeaders = {
  /** JetStream's dedup id; Sluice's message id. */
  id: "Nats-Msg-Id",
  /** The message key (keys travel in a header, never in a subject). */
  key: "sluice-key"
} as const
