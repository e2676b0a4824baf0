/**
 * The fire-and-forget commands of one connection (settlements and pulls), written together at the end of
 * the turn that made them, in the order they were made.
 *
 * A consumer settles every message it receives. The client's `publish` builds each command as a string of
 * its own, encodes it with a `TextEncoder` and copies it into its outbound buffer: on a trivial handler
 * that is about a tenth of the consumer's work. The buffer copies a turn's commands into one buffer it
 * keeps, and hands the client a copy of them once. A delivery's ack subject is copied as the bytes it
 * arrived in: it is never decoded nor encoded.
 *
 * It writes through the client's own command writer (`protocol.sendCommand`, which nats.js 3 keeps on the
 * connection though not in its type), the one the client's `publish` ends in: the commands join the
 * connection's outbound buffer and its reconnect handling like any publish (what is buffered while the
 * connection is down is dropped; pulls come back through their heartbeats, settlements through
 * redelivery). Where a connection has no such writer, each command is published on its own.
 */
import type { NatsConnection } from "@nats-io/transport-node"

/** Writes encoded protocol commands to a connection's outbound buffer. */
export type CommandWriter = (commands: Uint8Array) => void

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
/** Bytes as the text they encode, for the client's own `publish`. */
const textOf = (bytes: string | Uint8Array): string => (typeof bytes === "string" ? bytes : decoder.decode(bytes))

/** The connection's own command writer, where its client has one. */
export const commandWriterOf = (connection: NatsConnection): CommandWriter | undefined => {
  const protocol = (connection as NatsConnection & { readonly protocol?: { sendCommand?: unknown } }).protocol
  const sendCommand = protocol?.sendCommand
  return typeof sendCommand === "function" ? (commands) => sendCommand.call(protocol, commands) : undefined
}

export class CommandBuffer {
  readonly #connection: NatsConnection
  readonly #write: CommandWriter | undefined
  /** This turn's commands, from its start; reused from turn to turn, since the client is given a copy. */
  #queue = new Uint8Array(2 * FLUSH_AT_BYTES)
  /** Bytes of this turn's commands, not yet written. */
  #queued = 0
  readonly #flushLater = () => this.flush()

  /** @param write The connection's command writer; without one, each command is published when it is queued. */
  constructor(connection: NatsConnection, write: CommandWriter | undefined) {
    this.#connection = connection
    this.#write = write
  }

  /**
   * Queues a publish of `payload` to `subject`, answered on `reply` when given; text is sent as UTF-8.
   * Throws, as the client's `publish` does, when the connection is closed.
   */
  publish(subject: string | Uint8Array, payload: string | Uint8Array, reply?: string | Uint8Array): void {
    if (this.#write === undefined) {
      this.#connection.publish(textOf(subject), payload, reply === undefined ? undefined : { reply: textOf(reply) })
      return
    }
    if (this.#connection.isClosed()) throw new Error(`the connection is closed: cannot publish to ${textOf(subject)}`)
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
      this.flush()
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
    if (at >= FLUSH_AT_BYTES) this.flush()
  }

  /** Writes what is queued now. */
  flush(): void {
    if (this.#write === undefined || this.#queued === 0) return
    // A copy: the client keeps what it is given until the socket has written it.
    const commands = this.#queue.slice(0, this.#queued)
    this.#queued = 0
    this.#write(commands)
  }
}
