/**
 * Records to NATS messages and NATS messages to deliveries. The wire format is what a plain NATS client
 * sees: the payload as published, `Nats-Msg-Id` for the message id, `sluice-key` for the key, and the
 * record's headers as they are.
 *
 * Invariant: a record's id and key travel as set, whatever its own headers are named (they are set last),
 * and `wireHeaderBytes` never counts fewer bytes than the headers take on the wire.
 *
 * Why: a plain NATS client reads and writes Sluice's messages without knowing Sluice.
 */
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node"
import type { Transport } from "@sluice/core"
import { WireHeaders } from "./names.ts"

/** The headers a record travels with: its own, then the key and `Nats-Msg-Id`, which a header of the same name cannot replace. */
export const wireHeadersOf = (record: Transport.OutgoingRecord): MsgHdrs => {
  const wire = natsHeaders()
  for (const name in record.headers) wire.set(name, record.headers[name] as string)
  if (record.key !== undefined) wire.set(WireHeaders.key, record.key)
  wire.set(WireHeaders.id, record.id)
  return wire
}

/** The status line and the blank line that end a NATS header block, in bytes. */
const HEADER_FRAMING = "NATS/1.0\r\n\r\n".length

/**
 * Bytes the record's headers take on the wire (`name: value\r\n` each, `Nats-Msg-Id` included), or
 * `undefined` when they surely take no more than `room` bytes: counting characters three times over (the
 * most UTF-8 spends on one) settles most records without encoding anything.
 */
export const wireHeaderBytes = (record: Transport.OutgoingRecord, room: number): number | undefined => {
  let characters = WireHeaders.id.length + record.id.length + 4
  for (const name in record.headers) characters += name.length + (record.headers[name] as string).length + 4
  if (record.key !== undefined) characters += WireHeaders.key.length + record.key.length + 4
  if (HEADER_FRAMING + 3 * characters <= room) return undefined
  let bytes = HEADER_FRAMING + Buffer.byteLength(`${WireHeaders.id}: ${record.id}\r\n`)
  for (const name in record.headers) bytes += Buffer.byteLength(`${name}: ${record.headers[name]}\r\n`)
  if (record.key !== undefined) bytes += Buffer.byteLength(`${WireHeaders.key}: ${record.key}\r\n`)
  return bytes
}

/** The id, key and headers of a JetStream message, read from its headers. Without an id (a plain client's message), `<topic>:<sequence>`. */
export const labelsOf = (
  topic: string,
  sequence: number,
  wire: MsgHdrs | undefined
): {
  readonly id: string
  readonly key: string | undefined
  readonly headers: Readonly<Record<string, string>>
} => {
  const headers: Record<string, string> = {}
  let id: string | undefined
  let key: string | undefined
  if (wire !== undefined) {
    for (const name of wire.keys()) {
      const value = wire.get(name)
      if (name === WireHeaders.id) id = value
      else if (name === WireHeaders.key) key = value
      else headers[name] = value
    }
  }
  return { id: id ?? `${topic}:${sequence}`, key, headers }
}
