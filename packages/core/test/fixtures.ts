/**
 * What the Bus and consumer tests share: topics, a memory broker with a Bus, waits that do not move virtual
 * time, a reader of everything a topic holds, and a handler that waits for the test to let each message go.
 */
import { expect, it } from "@effect/vitest"
import { Deferred, Effect, Logger, Schema, type Scope, Stream } from "effect"
import { Bus, type Errors, MemoryTransport, type Message, StartPosition, Topic, type Transport } from "../src/index.ts"

export const Job = Schema.Struct({ n: Schema.Number })
export type Job = typeof Job.Type

export const jobs = Topic.make({ name: "jobs", schema: Job })

export const Order = Schema.Struct({ orderId: Schema.String, total: Schema.Number })
export const orders = Topic.make({
  name: "orders",
  schema: Order,
  key: (order) => `customer-${order.orderId.slice(0, 1)}`,
  id: (order) => `order-${order.orderId}`
})

export const encoder = new TextEncoder()
const decoder = new TextDecoder()
export const text = (payload: Uint8Array): string => decoder.decode(payload)

/** Dead-letter and consumer logs are expected here; keep the test output readable. */
export const test = (name: string, body: () => Effect.Effect<void, unknown, Scope.Scope>) =>
  it.effect(name, () => body().pipe(Effect.provide(Logger.layer([]))))

export const setup = (options: MemoryTransport.MemoryTransportOptions = {}) =>
  Effect.map(MemoryTransport.make(options), (transport) => ({ transport, bus: Bus.make(transport) }))

export const yieldMany = (times: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < times; i++) yield* Effect.yieldNow
  })

/** Lets every fiber run until it waits, without moving virtual time. */
export const settle = yieldMany(200)

/** Waits, without moving virtual time, until `check` holds; fails the test naming `what` otherwise. */
export const eventually = <E>(what: string, check: Effect.Effect<boolean, E> | (() => boolean)) =>
  Effect.gen(function* () {
    const holds = typeof check === "function" ? Effect.sync(check) : check
    for (let i = 0; i < 5_000; i++) {
      if (yield* holds) return
      yield* Effect.yieldNow
    }
    return expect.fail(`expected ${what}`)
  })

/** Whether the group's lag matches `expected`; false while the group does not exist yet. */
export const lagIs = (
  bus: Bus.BusShape,
  topic: Topic.Topic<Job>,
  group: string,
  expected: Partial<Transport.GroupLag>
) =>
  bus.lag(topic, group).pipe(
    Effect.map((lag) =>
      Object.entries(expected).every(([field, value]) => lag[field as keyof Transport.GroupLag] === value)
    ),
    Effect.orElseSucceed(() => false)
  )

export const nothingLeft = (bus: Bus.BusShape, topic: Topic.Topic<Job>, group: string) =>
  eventually(`group ${group} to have settled everything`, lagIs(bus, topic, group, { pending: 0, inFlight: 0 }))

let readers = 0
/** Every message a topic holds, read straight from the transport by a fresh group. */
export const readAll = (
  transport: Transport.Transport,
  topic: string
): Effect.Effect<Array<Transport.Delivery>, Errors.TransportError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const info = yield* transport.topicInfo(topic)
      if (info.messages === 0) return []
      const deliveries = yield* transport.subscribe({ topic, group: `reader-${++readers}`, start: StartPosition.all })
      return yield* deliveries.pipe(Stream.take(info.messages), Stream.runCollect)
    })
  )

/** A handler that records each message and waits for its gate, keyed by `n`. */
export const gatedHandler = Effect.gen(function* () {
  const gates = new Map<number, Deferred.Deferred<void>>()
  const gate = (n: number) =>
    Effect.gen(function* () {
      const existing = gates.get(n)
      if (existing !== undefined) return existing
      const created = yield* Deferred.make<void>()
      gates.set(n, created)
      return created
    })
  const started: Array<number> = []
  const finished: Array<number> = []
  return {
    started,
    finished,
    open: (n: number) => Effect.flatMap(gate(n), (d) => Deferred.succeed(d, undefined)),
    handler: (message: Message.Message<Job>) =>
      Effect.gen(function* () {
        started.push(message.payload.n)
        yield* Deferred.await(yield* gate(message.payload.n))
        finished.push(message.payload.n)
      })
  }
})
