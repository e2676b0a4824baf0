/**
 * Records to NATS messages and NATS messages to deliveries. The wire format is
 * what a plain NATS client sees: the payload as published, `Nats-Msg-Id` for
 * the message id, `sluice-key` for the key, and the record's headers as they are.
 */
import type { JsMsg } from "@nats-io/jetstream"
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node"
import type { OutgoingRecord } from "@sluice/core"
import { WireHeaders } from "./names.ts"

/** The headers a record travels with besides `Nats-Msg-Id` (set by the publish itself), or none. */
export const wireHeadersOf = (record: OutgoingRecord): MsgHdrs | undefined => {
  let wire: MsgHdrs | undefined
  for (const name in record.headers) {
    wire ??= natsHeaders()
    wire.set(name, record.headers[name] as string)
  }
  if (record.key !== undefined) {
    wire ??= natsHeaders()
    wire.set(WireHeaders.key, record.key)
  }
  return wire
}

/** The status line and the blank line that end a NATS header block, in bytes. */
const HEADER_FRAMING = "NATS/1.0\r\n\r\n".length

/** Bytes the record's headers take on the wire (`name: value\r\n` each, `Nats-Msg-Id` included). */
export const wireHeaderBytes = (record: OutgoingRecord): number => {
  let bytes = HEADER_FRAMING + Buffer.byteLength(`${WireHeaders.id}: ${record.id}\r\n`)
  for (const name in record.headers) bytes += Buffer.byteLength(`${name}: ${record.headers[name]}\r\n`)
  if (record.key !== undefined) bytes += Buffer.byteLength(`${WireHeaders.key}: ${record.key}\r\n`)
  return bytes
}

/** What a delivery carries, read from a JetStream message. A message from a plain client without an id gets `<topic>:<sequence>`. */
export const contentOf = (topic: string, message: JsMsg) => {
  const headers: Record<string, string> = {}
  let id: string | undefined
  let key: string | undefined
  const wire = message.headers
  if (wire !== undefined) {
    for (const name of wire.keys()) {
      const value = wire.get(name)
      if (name === WireHeaders.id) id = value
      else if (name === WireHeaders.key) key = value
      else headers[name] = value
    }
  }
  const info = message.info
  return {
    topic,
    sequence: info.streamSequence,
    id: id ?? `${topic}:${info.streamSequence}`,
    key,
    headers,
    payload: message.data,
    publishedAt: Math.floor(info.timestampNanos / 1_000_000),
    attempt: info.deliveryCount
  }
}
