/**
 * The fire-and-forget commands of one connection (settlements and pulls), written together at the end of
 * the turn that made them, in the order they were made.
 *
 * A consumer settles every message it receives. The client's `publish` builds each command as a string of
 * its own, encodes it with a `TextEncoder` and copies it into its outbound buffer: on a trivial handler
 * that is about a tenth of the consumer's work. The outbox appends a turn's commands to one string and
 * encodes it once.
 *
 * It writes through the client's own command writer (`protocol.sendCommand`, which nats.js 3 keeps on the
 * connection though not in its type), the one the client's `publish` ends in: the commands join the
 * connection's outbound buffer and its reconnect handling like any publish (what is buffered while the
 * connection is down is dropped; pulls come back through their heartbeats, settlements through
 * redelivery). Where a connection has no such writer, each command is published on its own.
 */
import { Buffer } from "node:buffer"
import type { NatsConnection } from "@nats-io/transport-node"

/** Writes encoded protocol commands to a connection's outbound buffer. */
export type CommandWriter = (commands: Uint8Array) => void

/** Text queued beyond which the outbox writes at once rather than at the end of the turn, in characters. */
const FLUSH_AT_CHARS = 32 * 1024

/** The connection's own command writer, where its client has one. */
export const commandWriterOf = (connection: NatsConnection): CommandWriter | undefined => {
  const protocol = (connection as NatsConnection & { readonly protocol?: { sendCommand?: unknown } }).protocol
  const sendCommand = protocol?.sendCommand
  return typeof sendCommand === "function" ? (commands) => sendCommand.call(protocol, commands) : undefined
}

export class Outbox {
  readonly #connection: NatsConnection
  readonly #write: CommandWriter | undefined
  /** Commands of this turn, not yet written. */
  #queued = ""

  /** @param write The connection's command writer; without one, each command is published when it is queued. */
  constructor(connection: NatsConnection, write: CommandWriter | undefined) {
    this.#connection = connection
    this.#write = write
  }

  /**
   * Queues a publish of `payload` to `subject`, answered on `reply` when given. `payload` is ASCII (its
   * length is its size in bytes). Throws, as the client's `publish` does, when the connection is closed.
   */
  publish(subject: string, payload: string, reply?: string): void {
    if (this.#write === undefined) {
      this.#connection.publish(subject, payload, reply === undefined ? undefined : { reply })
      return
    }
    if (this.#connection.isClosed()) throw new Error(`the connection is closed: cannot publish to ${subject}`)
    if (this.#queued.length === 0) queueMicrotask(() => this.flush())
    this.#queued +=
      reply === undefined
        ? `PUB ${subject} ${payload.length}\r\n${payload}\r\n`
        : `PUB ${subject} ${reply} ${payload.length}\r\n${payload}\r\n`
    if (this.#queued.length >= FLUSH_AT_CHARS) this.flush()
  }

  /** Writes what is queued now. */
  flush(): void {
    if (this.#write === undefined || this.#queued.length === 0) return
    const commands = this.#queued
    this.#queued = ""
    this.#write(Buffer.from(commands, "utf8"))
  }
}
