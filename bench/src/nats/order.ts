/**
 * The messages of the nats suite: orders of about 130 bytes of JSON. Sluice
 * encodes them with the schema and JSON; the raw client publishes the same
 * bytes, encoded with `JSON.stringify` (the key order is the schema's).
 */
import * as Schema from "effect/Schema"

export const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  sku: Schema.String,
  quantity: Schema.Number,
  amount: Schema.Number,
  currency: Schema.String,
  placedAt: Schema.Number
})
export type Order = typeof Order.Type

const pad = (value: number, width: number): string => String(value).padStart(width, "0")

export const makeOrder = (index: number): Order => ({
  id: `order-${pad(index, 10)}`,
  customer: `c-${pad(index % 100_000, 5)}`,
  sku: `s-${pad(index % 1000, 3)}`,
  quantity: (index % 9) + 1,
  amount: (index % 100_000) + 0.25,
  currency: "EUR",
  placedAt: 1_700_000_000_000 + index
})

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The wire bytes of an order, as a raw client user writes them. */
export const encodeOrder = (index: number): Uint8Array => encoder.encode(JSON.stringify(makeOrder(index)))

/** An order read back from its wire bytes, as a raw client user reads it (no validation). */
export const decodeOrder = (bytes: Uint8Array): Order => JSON.parse(decoder.decode(bytes)) as Order

/** Bytes of one order as JSON. */
export const payloadBytes = (index: number): number => encodeOrder(index).byteLength
