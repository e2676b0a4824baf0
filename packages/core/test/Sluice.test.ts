/**
 * The Promise face. Most tests are plain async functions, as a user of this
 * face writes them. Where the ack wait matters, the test runs the face over a
 * memory broker on the TestClock and moves virtual time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Errors, MemoryTransport, Sluice, Topic, Transport } from "../src/index.ts"
import { until } from "./promises.ts"

const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
type Order = typeof Order.Type
const orders = Topic.make({ name: "orders", schema: Order, id: (order) => `order-${order.id}` })

const order = (n: number): Order => ({ id: `o-${n}`, total: n * 10 })

/** The rejection of `promise`, or fails the test when it resolves. */
const rejection = async (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => expect.fail(`expected a rejection, got ${JSON.stringify(value)}`),
    (error: unknown) => error
  )

/** A client whose memory broker runs on the test's TestClock; closed with the test's scope. */
const virtualClient = Effect.gen(function* () {
  const transport = yield* MemoryTransport.make()
  const client = yield* Effect.promise(() =>
    Sluice.connect({ transport: Layer.succeed(Transport.TransportService, transport) })
  )
  yield* Effect.addFinalizer(() => Effect.promise(() => client.close()))
  return client
})

describe("Sluice (Promise face)", () => {
  it("a definition with other settings is refused; updateTopic and updateGroup change them, returning each change", async () => {
    const sluice = await Sluice.connect()
    try {
      const limited = Topic.make({ name: "orders", schema: Order, maxMessages: 100 })
      await sluice.publish(orders, order(1))
      expect(await rejection(sluice.publish(limited, order(2)))).toMatchObject({
        _tag: "InvalidConfig",
        differences: [{ setting: "maxMessages", stored: "none", asked: "100" }]
      })
      expect(await sluice.updateTopic(limited)).toEqual([{ setting: "maxMessages", stored: "none", asked: "100" }])
      await sluice.publish(limited, order(2))
      const consumer = await sluice.consume(orders, { group: "billing" }, () => undefined)
      await consumer.stop()
      expect(await sluice.updateGroup(orders, "billing", { ackWait: "1 minute" })).toEqual([
        { setting: "ackWait", stored: "30s", asked: "1m" }
      ])
      expect(
        await rejection(sluice.consume(orders, { group: "billing", ackWait: "2 minutes" }, () => undefined))
      ).toMatchObject({ _tag: "InvalidConfig", option: "ackWait" })
      expect(await rejection(sluice.updateGroup(orders, "billing", { ackWait: 0 }))).toMatchObject({
        _tag: "InvalidConfig",
        option: "ackWait"
      })
    } finally {
      await sluice.close()
    }
  })

  it("publishes with a receipt, and consume acks each message once its handler resolves", async () => {
    const sluice = await Sluice.connect()
    try {
      const handled: Array<Order> = []
      let release: () => void = () => undefined
      const blocked = new Promise<void>((resolve) => {
        release = resolve
      })
      const consumer = await sluice.consume(orders, { group: "billing" }, async (message) => {
        if (message.payload.id === "o-1") await blocked
        handled.push(message.payload)
      })
      expect(await sluice.publish(orders, order(1))).toEqual({ topic: "orders", sequence: 1, duplicate: false })
      const receipts = await sluice.publishAll(orders, [order(2), order(3)])
      expect(receipts.map((receipt) => receipt.sequence)).toEqual([2, 3])

      await until(
        "the first handler to hold its message",
        async () => (await sluice.lag(orders, "billing")).inFlight > 0
      )
      expect(handled).toEqual([])
      // By default a consumer holds only what its handlers work on: the rest waits in the broker.
      expect(await sluice.lag(orders, "billing")).toMatchObject({ pending: 2, inFlight: 1 })

      release()
      await until("every message to be handled", () => handled.length === 3)
      await until("every message to be acked", async () => {
        const lag = await sluice.lag(orders, "billing")
        return lag.pending === 0 && lag.inFlight === 0
      })
      expect(handled).toEqual([order(1), order(2), order(3)])
      await consumer.stop()
      await consumer.done
    } finally {
      await sluice.close()
    }
  })

  it("a message whose handler throws is delivered again", async () => {
    const sluice = await Sluice.connect()
    try {
      const attempts: Array<number> = []
      await sluice.consume(orders, { group: "billing", redeliveryDelay: () => 0 }, async (message) => {
        attempts.push(message.attempt)
        if (message.attempt === 1) throw new Error("payment service unavailable")
      })
      await sluice.publish(orders, order(1))
      await until("the second attempt", () => attempts.length === 2)
      expect(attempts).toEqual([1, 2])
      await until("the message to be acked", async () => {
        const lag = await sluice.lag(orders, "billing")
        return lag.pending === 0 && lag.inFlight === 0
      })
    } finally {
      await sluice.close()
    }
  })

  it("a message whose handler keeps throwing ends in the dead letter with the thrown message as reason", async () => {
    const sluice = await Sluice.connect()
    try {
      await sluice.consume(orders, { group: "billing", maxAttempts: 1 }, () => {
        throw new TypeError("total is negative")
      })
      await sluice.publish(orders, order(1))
      const Letter = Topic.make({ name: orders.deadLetter, schema: Order })
      const letters: Array<Sluice.Message<Order>> = []
      for await (const letter of await sluice.subscribe(Letter, { group: "inspect" })) {
        letters.push(letter)
        await letter.ack()
        break
      }
      expect(letters[0]?.payload).toEqual(order(1))
      expect(letters[0]?.headers["sluice-dead-letter-reason"]).toContain("total is negative")
    } finally {
      await sluice.close()
    }
  })

  it("stop ends the consumer: later messages wait in the broker for the next consumer of the group", async () => {
    const sluice = await Sluice.connect()
    try {
      const first: Array<string> = []
      const consumer = await sluice.consume(orders, { group: "billing" }, (message) => {
        first.push(message.payload.id)
      })
      await sluice.publish(orders, order(1))
      await until("the first message", () => first.length === 1)
      await consumer.stop()
      await consumer.done
      await sluice.publishAll(orders, [order(2), order(3)])
      expect(await sluice.lag(orders, "billing")).toMatchObject({ pending: 2, inFlight: 0 })

      const second: Array<string> = []
      await sluice.consume(orders, { group: "billing" }, (message) => {
        second.push(message.payload.id)
      })
      await until("the next consumer to get both", () => second.length === 2)
      expect(first).toEqual(["o-1"])
      expect(second).toEqual(["o-2", "o-3"])
    } finally {
      await sluice.close()
    }
  })

  it("close stops every consumer gracefully: a running handler finishes and is acked", async () => {
    const sluice = await Sluice.connect()
    const finished: Array<string> = []
    let started = false
    let release: () => void = () => undefined
    const blocked = new Promise<void>((resolve) => {
      release = resolve
    })
    const consumer = await sluice.consume(orders, { group: "billing" }, async (message) => {
      started = true
      await blocked
      finished.push(message.payload.id)
    })
    await sluice.publish(orders, order(1))
    await until("the handler to start", () => started)
    let closed = false
    const closing = sluice.close().then(() => {
      closed = true
    })
    for (let i = 0; i < 100; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(closed, "close waits for the running handler").toBe(false)
    release()
    await closing
    await consumer.done
    expect(finished).toEqual(["o-1"])
  })

  it("rejects with the typed errors themselves", async () => {
    const sluice = await Sluice.connect({ transport: MemoryTransport.layer({ maxPayloadBytes: 64 }) })
    try {
      const encode = await rejection(sluice.publish(orders, { id: "o-1", total: "ten" } as unknown as Order))
      expect(encode).toBeInstanceOf(Errors.EncodeError)
      expect(encode).toMatchObject({ _tag: "EncodeError", topic: "orders" })

      const tooLarge = await rejection(sluice.publish(orders, { id: "x".repeat(100), total: 1 }))
      expect(tooLarge).toBeInstanceOf(Errors.PayloadTooLarge)
      expect(tooLarge).toMatchObject({ _tag: "PayloadTooLarge", limit: 64 })

      const noGroup = await rejection(sluice.lag(orders, "nobody"))
      expect(noGroup).toBeInstanceOf(Errors.GroupNotFound)
      expect(noGroup).toMatchObject({ _tag: "GroupNotFound", group: "nobody" })
    } finally {
      await sluice.close()
    }
  })

  it("a value JSON cannot hold (circular, or a BigInt) rejects with EncodeError, in publish and publishAll", async () => {
    const anything = Topic.make({ name: "anything", schema: Schema.Unknown })
    const sluice = await Sluice.connect()
    try {
      const circular: Record<string, unknown> = { name: "loop" }
      circular.self = circular
      for (const value of [circular, { amount: 10n }]) {
        const single = await rejection(sluice.publish(anything, value))
        expect(single).toBeInstanceOf(Errors.EncodeError)
        expect(single).toMatchObject({ _tag: "EncodeError", topic: "anything" })
        expect((single as Errors.EncodeError).reason).toMatch(/not representable as JSON/)
        expect(await rejection(sluice.publishAll(anything, [{ fine: true }, value]))).toBeInstanceOf(Errors.EncodeError)
      }
      expect(await sluice.topicInfo(anything).catch(() => ({ messages: 0 }))).toMatchObject({ messages: 0 })
    } finally {
      await sluice.close()
    }
  })

  it("consume rejects with InvalidName for a bad group name", async () => {
    const sluice = await Sluice.connect()
    try {
      const error = await rejection(sluice.consume(orders, { group: "billing.>" }, () => undefined))
      expect(error).toBeInstanceOf(Errors.InvalidName)
      expect(error).toMatchObject({ _tag: "InvalidName", kind: "group" })
    } finally {
      await sluice.close()
    }
  })

  it("for await over subscribe with manual ack; leaving the loop closes the subscription and hands back at once what was not acked", async () => {
    const sluice = await Sluice.connect()
    try {
      await sluice.publishAll(orders, [order(1), order(2), order(3), order(4)])
      const seen: Array<[string, number]> = []
      for await (const message of await sluice.subscribe(orders, { group: "audit", ackWait: "1 hour" })) {
        seen.push([message.payload.id, message.attempt])
        if (message.payload.id === "o-3") break // leave without acking o-3
        await message.ack()
      }
      expect(seen).toEqual([
        ["o-1", 1],
        ["o-2", 1],
        ["o-3", 1]
      ])
      // No ack wait passes: o-3 and o-4 (which the subscription held) are back in the broker at once.
      expect(await sluice.lag(orders, "audit")).toEqual({ pending: 2, inFlight: 0, missed: 0 })
      // Nothing reaches the closed subscription: a new message waits in the broker too.
      await sluice.publish(orders, order(5))
      expect(await sluice.lag(orders, "audit")).toMatchObject({ pending: 3 })

      const next: Array<string> = []
      for await (const message of await sluice.subscribe(orders, { group: "audit" })) {
        next.push(message.payload.id)
        await message.ack()
        if (next.length === 3) break
      }
      expect(next).toEqual(["o-3", "o-4", "o-5"])
      expect(await sluice.lag(orders, "audit")).toEqual({ pending: 0, inFlight: 0, missed: 0 })
    } finally {
      await sluice.close()
    }
  })

  it("a broadcast subscription exists when subscribe resolves: every message published after it reaches the loop", async () => {
    const sluice = await Sluice.connect()
    try {
      await sluice.publish(orders, order(0))
      const everything = await sluice.subscribe(orders)
      await sluice.publishAll(orders, [order(1), order(2)])
      const seen: Array<string> = []
      for await (const message of everything) {
        seen.push(message.payload.id)
        if (seen.length === 2) break
      }
      expect(seen).toEqual(["o-1", "o-2"])
    } finally {
      await sluice.close()
    }
  })

  it("close ends a loop waiting for its next message: the loop completes, and close documents what it did to handlers", async () => {
    const sluice = await Sluice.connect()
    const subscription = await sluice.subscribe(orders, { group: "audit" })
    const loop = (async () => {
      let count = 0
      for await (const _ of subscription) count++
      return count
    })()
    await new Promise((resolve) => setImmediate(resolve))
    await sluice.close()
    expect(await loop).toBe(0)
  })

  it.effect("a message's nak(delay) redelivers it after the delay", () =>
    Effect.gen(function* () {
      const sluice = yield* virtualClient
      yield* Effect.promise(() => sluice.publish(orders, order(1)))
      const deliveries: Array<number> = []
      const consumer = yield* Effect.promise(() =>
        sluice.consume(orders, { group: "billing" }, async (message) => {
          deliveries.push(message.deliveryCount)
          if (message.deliveryCount === 1) await message.nak("10 seconds")
        })
      )
      yield* Effect.promise(() => until("the first delivery", () => deliveries.length === 1))
      yield* TestClock.adjust("9 seconds")
      expect(deliveries).toEqual([1])
      yield* TestClock.adjust("1 second")
      yield* Effect.promise(() => until("the second delivery", () => deliveries.length === 2))
      yield* Effect.promise(() => consumer.stop())
      expect(yield* Effect.promise(() => sluice.lag(orders, "billing"))).toMatchObject({ pending: 0, inFlight: 0 })
    })
  )

  it("a handler's signal aborts when it overruns handlerTimeout, and that attempt counts as failed", async () => {
    const sluice = await Sluice.connect()
    try {
      const aborted: Array<number> = []
      const deliveries: Array<number> = []
      await sluice.consume(
        orders,
        { group: "billing", handlerTimeout: "200 millis", redeliveryDelay: () => 0 },
        (message, signal) => {
          deliveries.push(message.deliveryCount)
          if (message.attempt > 1) return
          signal.addEventListener("abort", () => aborted.push(message.attempt))
          return new Promise<void>(() => {})
        }
      )
      await sluice.publish(orders, order(1))
      await until("the second delivery", () => deliveries.length === 2)
      expect(aborted).toEqual([1])
      expect(deliveries).toEqual([1, 2])
    } finally {
      await sluice.close()
    }
  })

  it("a handler's signal aborts when stop gives up waiting for it after stopTimeout; its message is handed back", async () => {
    const sluice = await Sluice.connect()
    try {
      const aborted: Array<string> = []
      const consumer = await sluice.consume(
        orders,
        { group: "billing", stopTimeout: "200 millis" },
        (message, signal) => {
          signal.addEventListener("abort", () => aborted.push(message.payload.id))
          return new Promise<void>(() => {})
        }
      )
      await sluice.publish(orders, order(1))
      await until("the handler to start", async () => (await sluice.lag(orders, "billing")).inFlight === 1)
      await consumer.stop()
      expect(aborted).toEqual(["o-1"])
      expect(await sluice.lag(orders, "billing")).toMatchObject({ pending: 1, inFlight: 0 })
    } finally {
      await sluice.close()
    }
  })

  it('status is connected until close; on("status") tells each change, closed last, until the function it returns removes the listener', async () => {
    const sluice = await Sluice.connect()
    expect(sluice.status).toBe("connected")
    expect(await Effect.runPromise(Stream.runHead(sluice.bus.status))).toEqual(Option.some("connected"))
    const told: Array<string> = []
    const removed: Array<string> = []
    sluice.on("status", () => {
      throw new Error("a listener that throws (expected in this test)")
    })
    sluice.on("status", (status) => told.push(status))
    const off = sluice.on("status", (status) => removed.push(status))
    off()
    expect(() => sluice.on("closed" as never, () => {})).toThrow(
      expect.objectContaining({ _tag: "InvalidConfig", option: "event" })
    )
    await sluice.close()
    expect(sluice.status).toBe("closed")
    expect(told).toEqual(["closed"])
    expect(removed).toEqual([])
  })

  it("connect and consume reject a bad option with InvalidConfig naming it", async () => {
    expect(await rejection(Sluice.connect({ transport: "memory" } as never))).toMatchObject({
      _tag: "InvalidConfig",
      option: "transport"
    })
    expect(await rejection(Sluice.connect({ publishRetry: 5 } as never))).toMatchObject({
      _tag: "InvalidConfig",
      option: "publishRetry"
    })
    expect(
      await rejection(Sluice.connect({ transport: MemoryTransport.layer({ maxPayloadBytes: 1.5 }) }))
    ).toMatchObject({ _tag: "InvalidConfig", option: "maxPayloadBytes" })
    expect(await rejection(Sluice.connect({ publishTimeout: "soon" } as never))).toMatchObject({
      _tag: "InvalidConfig",
      option: "publishTimeout"
    })
    const sluice = await Sluice.connect()
    try {
      expect(await rejection(sluice.consume(orders, { group: "billing", concurrency: 0 }, () => {}))).toMatchObject({
        _tag: "InvalidConfig",
        option: "concurrency"
      })
      expect(
        await rejection(sluice.consume(orders, { group: "billing", ackWait: "soon" as never }, () => {}))
      ).toMatchObject({
        _tag: "InvalidConfig",
        option: "ackWait"
      })
    } finally {
      await sluice.close()
    }
  })

  it("publishAll that fails part-way says how many were stored and their receipts; publishing the batch again under the same ids stores only the rest", async () => {
    const sluice = await Sluice.connect()
    try {
      const small = Topic.make({
        name: "orders.small",
        schema: Order,
        id: (value) => value.id,
        maxMessages: 3,
        discard: "new"
      })
      const batch = [1, 2, 3, 4, 5].map(order)
      const error = await rejection(sluice.publishAll(small, batch))
      expect(error).toBeInstanceOf(Errors.PartiallyPublished)
      expect(error).toMatchObject({ _tag: "PartiallyPublished", stored: 3, cause: { _tag: "TopicFull" } })
      expect((error as Errors.PartiallyPublished).receipts.map((receipt) => receipt?.sequence)).toEqual([
        1,
        2,
        3,
        undefined,
        undefined
      ])
      await sluice.updateTopic(Topic.make({ name: "orders.small", schema: Order, maxMessages: 10, discard: "new" }))
      const again = await sluice.publishAll(small, batch)
      expect(again.map((receipt) => [receipt.sequence, receipt.duplicate])).toEqual([
        [1, true],
        [2, true],
        [3, true],
        [4, false],
        [5, false]
      ])
      expect((await sluice.topicInfo(small)).messages).toBe(5)
    } finally {
      await sluice.close()
    }
  })
})
