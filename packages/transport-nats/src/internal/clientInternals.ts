/**
 * The one door through which the NATS transport reaches into nats.js beyond its public API, typed from the
 * client's own internal entry point (`@nats-io/nats-core/internal`, the one nats.js's JetStream client uses):
 * the connection's command writer and request multiplexer (`ProtocolHandler.sendCommand`, `request`,
 * `muxSubscriptions`), whether it is connected now (`ProtocolHandler.connected`), its options
 * (`NatsConnectionImpl.options`), the stop of its status events (`status()`, a `QueuedIterator`), and a
 * message's reply subject as the bytes it arrived in (`MsgImpl._msg.reply`).
 *
 * Invariant: the transport uses these internals or nothing; there is no slower path without them. A
 * connection is checked once, when the transport is made, and refused with `InvalidConfig` naming what it
 * lacks and the client Sluice supports; a message without its reply bytes fails its subscription the same way.
 *
 * Why: an upgrade of the client that moves them fails to compile here, or fails loudly for a connection
 * from another client, instead of quietly taking another path.
 */
import type { MsgImpl, NatsConnectionImpl, ProtocolHandler, Request } from "@nats-io/nats-core/internal"
import type { Msg, NatsConnection, QueuedIterator, Status } from "@nats-io/transport-node"
import { Errors } from "@sluice/core"
import { Result } from "effect"

/** The client Sluice is built and tested against: the version of `@nats-io/nats-core` in the workspace catalog. */
export const SUPPORTED_CLIENT = "@nats-io/nats-core 3.4.0"

/** The client's request multiplexer: each reply goes to the request whose token ends its subject. */
export type RequestMultiplexer = Pick<ProtocolHandler, "request" | "muxSubscriptions">

/** An entry of the multiplexer: the client calls its `resolver` with the reply, or with why there is none. */
export type MultiplexedRequest = Request

/** What the transport uses of a connection's internals. */
export interface ClientInternals {
  /** Writes encoded protocol commands to the connection's outbound buffer, where the client's `publish` ends. */
  readonly writeCommands: (commands: Uint8Array) => void
  /** The multiplexer the client's own requests go through. */
  readonly requests: RequestMultiplexer
  /** The inbox prefix the connection was opened with; `undefined` when it uses the client's default. */
  readonly inboxPrefix: string | undefined
  /** Whether the connection is up now: false between losing it and getting it back. */
  readonly connected: () => boolean
  /**
   * The connection's status events from now on, until `stop` (or the connection closes); `InvalidConfig`
   * when they cannot be stopped.
   */
  readonly statusEvents: () => Result.Result<QueuedIterator<Status>, Errors.InvalidConfig>
}

/** Why a connection or message cannot be used: it lacks `what`. */
const unsupported = (what: string): string =>
  `the NATS client lacks ${what}, which Sluice uses; Sluice supports ${SUPPORTED_CLIENT} (a connection of @nats-io/transport-node of that version)`

/** The internals of `connection`, or `InvalidConfig` naming those it lacks. */
export const clientInternalsOf = (connection: NatsConnection): Result.Result<ClientInternals, Errors.InvalidConfig> => {
  const impl = connection as Partial<NatsConnectionImpl>
  const protocol: Partial<ProtocolHandler> | undefined = impl.protocol
  const options = impl.options
  const missing = [
    typeof protocol?.sendCommand === "function" ? undefined : "protocol.sendCommand",
    typeof protocol?.request === "function" ? undefined : "protocol.request",
    typeof protocol?.muxSubscriptions?.cancel === "function" ? undefined : "protocol.muxSubscriptions",
    typeof protocol?.connected === "boolean" ? undefined : "protocol.connected",
    typeof options === "object" && options !== null ? undefined : "options"
  ].filter((name) => name !== undefined)
  if (missing.length > 0 || protocol === undefined || options === undefined)
    return Result.fail(new Errors.InvalidConfig({ reason: unsupported(`the connection's ${missing.join(", ")}`) }))
  const handler = protocol as ProtocolHandler
  return Result.succeed({
    writeCommands: (commands) => handler.sendCommand(commands),
    requests: handler,
    inboxPrefix: options.inboxPrefix,
    connected: () => handler.connected,
    statusEvents: () => {
      // Declared an AsyncIterable; the client's is a QueuedIterator, which can be stopped.
      const events = connection.status() as Partial<QueuedIterator<Status>>
      return typeof events.stop === "function"
        ? Result.succeed(events as QueuedIterator<Status>)
        : Result.fail(new Errors.InvalidConfig({ reason: unsupported("the connection's status().stop") }))
    }
  })
}

/**
 * A message's reply subject as the bytes it arrived in, `undefined` when it has none: its `reply` would
 * decode them into a string, which a delivery never needs. Throws when the message does not keep them.
 */
export const replyOf = (message: Msg): Uint8Array | undefined => {
  const arrived = (message as Partial<MsgImpl>)._msg
  if (arrived === undefined) throw new Error(unsupported("a message's _msg.reply"))
  const reply = arrived.reply
  return reply !== undefined && reply.length > 0 ? reply : undefined
}
