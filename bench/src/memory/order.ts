/** The messages of the memory suite: small orders, about 45 bytes of JSON. */
import * as Schema from "effect/Schema"

export const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number })
export type Order = typeof Order.Type

/** An order carrying the `performance.now()` of its publication, for latency. */
export const TimedOrder = Schema.Struct({ id: Schema.String, amount: Schema.Number, sentAt: Schema.Number })
export type TimedOrder = typeof TimedOrder.Type

export const makeOrder = (index: number): Order => ({
  id: `order-${String(index).padStart(10, "0")}`,
  amount: (index % 100_000) + 0.25
})

export const makeTimedOrder = (index: number): TimedOrder => ({ ...makeOrder(index), sentAt: performance.now() })

/** Bytes of one order as JSON. */
export const payloadBytes = (index: number): number => Buffer.byteLength(JSON.stringify(makeOrder(index)))

/** Bytes of one timed order as JSON. */
export const timedPayloadBytes = (index: number): number => Buffer.byteLength(JSON.stringify(makeTimedOrder(index)))

/** Messages a fixed-rate producer should have sent `elapsedMs` after starting. */
export const dueAt = (elapsedMs: number, rate: number, total: number): number =>
  Math.min(total, Math.floor((elapsedMs * rate) / 1000) + 1)
