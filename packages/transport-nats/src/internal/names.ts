/**
 * How Sluice names map onto JetStream. A topic's subject is its name, so plain
 * NATS clients publish to `orders.created` as they would expect; its stream is
 * the name with `.` (not allowed in stream names) replaced by `~`, a character
 * topic names cannot hold, so two topics never share a stream.
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
