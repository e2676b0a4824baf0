/**
 * The fire-and-forget commands of one connection (settlements and pulls), queued as protocol bytes and
 * written together at the end of the turn that made them.
 *
 * Invariant: commands reach the connection whole and in the order they were queued, by the end of the
 * turn that queued them (sooner once a write's worth is queued); a delivery's ack subject is copied as the
 * bytes it arrived in, never decoded nor encoded. They go through the client's own command writer
 * (`ClientInternals.writeCommands`), where its `publish` ends, so they join the connection's outbound
 * buffer and its reconnect handling like any publish (what is buffered while the connection is down is
 * dropped; pulls come back through their heartbeats, settlements through redelivery).
 *
 * Why: a consumer settles every message, and the client's `publish` builds, encodes and copies each
 * command on its own; one copy per turn costs less ("Where a consumed message's time goes",
 * bench/README.md).
 */
import type { NatsConnection } from "@nats-io/transport-node"

/** Bytes queued beyond which the buffer writes at once rather than at the end of the turn. */
const FLUSH_AT_BYTES = 32 * 1024
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const PUB = encoder.encode("PUB ")
const SPACE = 0x20
const CR = 0x0d
const LF = 0x0a

/** Text as the bytes it is sent as. */
const bytesOf = (text: string | Uint8Array): Uint8Array => (typeof text === "string" ? encoder.encode(text) : text)

export class CommandBuffer {
  readonly #connection: NatsConnection
  readonly #write: (commands: Uint8Array) => void
  /** This turn's commands, from its start; reused from turn to turn, since the client is given a copy. */
  #queue = new Uint8Array(2 * FLUSH_AT_BYTES)
  /** Bytes of this turn's commands, not yet written. */
  #queued = 0
  readonly #flushLater = () => this.#flush()

  /** @param write The connection's command writer (`ClientInternals.writeCommands`). */
  constructor(connection: NatsConnection, write: (commands: Uint8Array) => void) {
    this.#connection = connection
    this.#write = write
  }

  /**
   * Queues a publish of `payload` to `subject`, answered on `reply` when given; text is sent as UTF-8.
   * Throws, as the client's `publish` does, when the connection is closed.
   */
  publish(subject: string | Uint8Array, payload: string | Uint8Array, reply?: string | Uint8Array): void {
    if (this.#connection.isClosed())
      throw new Error(
        `the connection is closed: cannot publish to ${typeof subject === "string" ? subject : decoder.decode(subject)}`
      )
    const subjectBytes = bytesOf(subject)
    const payloadBytes = bytesOf(payload)
    const replyBytes = reply === undefined ? undefined : bytesOf(reply)
    const size = String(payloadBytes.length)
    const length =
      PUB.length +
      subjectBytes.length +
      (replyBytes === undefined ? 0 : 1 + replyBytes.length) +
      1 +
      size.length +
      2 +
      payloadBytes.length +
      2
    if (this.#queued + length > this.#queue.length) {
      this.#flush()
      if (length > this.#queue.length) this.#queue = new Uint8Array(length)
    }
    if (this.#queued === 0) queueMicrotask(this.#flushLater)
    const queue = this.#queue
    let at = this.#queued
    queue.set(PUB, at)
    at += PUB.length
    queue.set(subjectBytes, at)
    at += subjectBytes.length
    if (replyBytes !== undefined) {
      queue[at++] = SPACE
      queue.set(replyBytes, at)
      at += replyBytes.length
    }
    queue[at++] = SPACE
    for (let i = 0; i < size.length; i++) queue[at++] = size.charCodeAt(i)
    queue[at++] = CR
    queue[at++] = LF
    queue.set(payloadBytes, at)
    at += payloadBytes.length
    queue[at++] = CR
    queue[at++] = LF
    this.#queued = at
    if (at >= FLUSH_AT_BYTES) this.#flush()
  }

  /** Writes what is queued now. */
  #flush(): void {
    if (this.#queued === 0) return
    // A copy: the client keeps what it is given until the socket has written it.
    const commands = this.#queue.slice(0, this.#queued)
    this.#queued = 0
    this.#write(commands)
  }
}
