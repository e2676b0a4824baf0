/**
 * Interoperability with plain NATS clients: what Sluice publishes is an ordinary JetStream message
 * (JSON payload, `Nats-Msg-Id`, `sluice-key`, headers as given) on the topic's subject, and what a
 * plain `@nats-io/jetstream` client publishes there is consumed by Sluice, malformed messages
 * included (they go to the topic's dead letter, untouched).
 */

import { describe, expect, it } from "@effect/vitest"
import {
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager
} from "@nats-io/jetstream"
import { connect, headers as natsHeaders } from "@nats-io/transport-node"
import { Bus, DeadLetter, type Message, StartPosition, Topic, type Transport } from "@sluice/core"
import { Effect, Logger, Queue, Schema, type Scope, Stream } from "effect"
import { afterAll } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

// NATS_URL when set, else a nats-server of its own. Topic names carry a run id, so that runs against a
// shared server never see each other's streams; the run's streams are deleted afterwards.
const server = await NatsServer.acquire()
const run = `interop-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
afterAll(async () => {
  try {
    const nc = await connect({ ...server.connectTarget, timeout: 2_000 })
    const jsm = await jetstreamManager(nc)
    for await (const name of jsm.streams.names()) if (name.startsWith(run)) await jsm.streams.delete(name)
    await nc.close()
  } finally {
    await server.stop()
  }
})

const Order = Schema.Struct({ orderId: Schema.String, total: Schema.Number })
type Order = typeof Order.Type

let topics = 0
/** A fresh topic of orders, keyed by customer. */
const ordersTopic = () =>
  Topic.make({ name: `${run}.orders${++topics}`, schema: Order, key: (order) => `customer-${order.orderId}` })

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value))
/** Bytes as a plain array, to compare a Buffer with a Uint8Array by content. */
const bytesOf = (value: unknown): Array<number> => (value instanceof Uint8Array ? [...value] : [])

/** What a test gets: Sluice over NATS, and a plain NATS connection beside it. */
const setup = Effect.gen(function* () {
  const transport = yield* NatsTransport.make(server.connectTarget)
  const nc = yield* Effect.acquireRelease(
    Effect.promise(() => connect({ ...server.connectTarget, timeout: 2_000 })),
    (connection) => Effect.promise(() => connection.close())
  )
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))
  return { transport, bus: Bus.make(transport), nc, js: jetstream(nc), jsm }
})

/** The stream a plain client finds for a subject, as it would: by asking the server. */
const streamOf = (jsm: JetStreamManager, subject: string) => Effect.promise(() => jsm.streams.find(subject))

/** Every message of `subject`'s stream, read by a plain ordered consumer, up to its last sequence. */
const readPlain = (js: JetStreamClient, jsm: JetStreamManager, subject: string) =>
  Effect.promise(async () => {
    const stream = await jsm.streams.find(subject)
    const last = (await jsm.streams.info(stream)).state.last_seq
    const consumer = await js.consumers.get(stream)
    const messages: Array<JsMsg> = []
    // A single fetch may return fewer messages than are there: loop until the last sequence.
    while ((messages.at(-1)?.seq ?? 0) < last) {
      const message = await consumer.next({ expires: 2_000 })
      if (message === null) break
      messages.push(message)
    }
    return messages
  })

/** Waits until `check` holds; fails naming `what` after `timeoutMs`. */
const eventually = <E>(what: string, check: Effect.Effect<boolean, E>, timeoutMs = 8_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (yield* check) return
      yield* Effect.sleep("50 millis")
    }
    return expect.fail(`expected ${what} within ${timeoutMs} ms`)
  })

const lagIs = (
  bus: Bus.BusShape,
  topic: Topic.Topic<Order>,
  group: string,
  expected: Omit<Transport.GroupLag, "missed">
) =>
  bus.lag(topic, group).pipe(
    Effect.map((lag) => lag.pending === expected.pending && lag.inFlight === expected.inFlight),
    Effect.orElseSucceed(() => false)
  )

/** A consumer of `topic` in `group` whose handler hands every message to the returned queue. */
const consumeInto = (bus: Bus.BusShape, topic: Topic.Topic<Order>, group: string) =>
  Effect.gen(function* () {
    const received = yield* Queue.unbounded<Message.Message<Order>>()
    yield* bus.consume(topic, { group, stopTimeout: "1 second" }, (message) => Queue.offer(received, message))
    return received
  })

const takeWithin = <A>(queue: Queue.Queue<A>, what: string) =>
  Queue.take(queue).pipe(
    Effect.timeoutOrElse({ duration: "8 seconds", orElse: () => Effect.sync(() => expect.fail(`expected ${what}`)) })
  )

/** Each test records the Bus's log lines instead of printing them. */
const test = (name: string, body: (logs: Array<string>) => Effect.Effect<void, unknown, Scope.Scope>) =>
  it.live(name, () => {
    const logs: Array<string> = []
    const recorder = Logger.make((options) => {
      logs.push(`${options.logLevel}: ${(options.message as ReadonlyArray<unknown>).map(String).join(" ")}`)
    })
    return body(logs).pipe(Effect.provide(Logger.layer([recorder])))
  })

describe("NATS interoperability: Sluice to a plain client", () => {
  test("a message Sluice publishes is a JetStream message a plain client reads: JSON payload, id, key and headers", () =>
    Effect.gen(function* () {
      const { bus, js, jsm } = yield* setup
      const orders = ordersTopic()
      const value: Order = { orderId: "o-17", total: 42.5 }
      const receipt = yield* bus.publish(orders, value, { id: "order-o-17", headers: { "trace-id": "t-123.abc" } })

      // A plain client finds the stream by the topic's name, which is the subject.
      const stream = yield* streamOf(jsm, orders.name)
      expect(stream).toBe(orders.name.replaceAll(".", "~"))
      const [message, ...others] = yield* readPlain(js, jsm, orders.name)
      expect(others).toEqual([])
      if (message === undefined) return expect.fail("expected the message in the stream")
      expect(message.subject).toBe(orders.name)
      expect(message.seq).toBe(receipt.sequence)
      expect(message.json()).toEqual(value)
      expect(JSON.parse(decoder.decode(message.data))).toEqual(value)
      expect(message.headers?.get("Nats-Msg-Id")).toBe("order-o-17")
      expect(message.headers?.get("sluice-key")).toBe("customer-o-17")
      expect(message.headers?.get("trace-id")).toBe("t-123.abc")
      // Nothing else rides along.
      expect([...(message.headers?.keys() ?? [])].sort()).toEqual(["Nats-Msg-Id", "sluice-key", "trace-id"])
    }))

  test("headers named Nats-Msg-Id or sluice-key are refused: nothing replaces the message's id or key on the wire", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup
      const orders = ordersTopic()
      for (const headers of [{ "Nats-Msg-Id": "forged-id" }, { "sluice-key": "forged-key" }]) {
        const refused = yield* Effect.flip(
          bus.publish(orders, { orderId: "o-18", total: 1 }, { id: "order-o-18", headers })
        )
        expect(refused).toMatchObject({ _tag: "InvalidName", kind: "header", value: Object.keys(headers)[0] })
      }
    }))

  test("a republish with the same id is a duplicate for plain clients too: the stream holds it once", () =>
    Effect.gen(function* () {
      const { bus, js, jsm } = yield* setup
      const orders = ordersTopic()
      const value: Order = { orderId: "o-1", total: 1 }
      yield* bus.publish(orders, value, { id: "order-o-1" })
      const again = yield* bus.publish(orders, value, { id: "order-o-1" })
      expect(again.duplicate).toBe(true)
      // A plain client publishing the same Nats-Msg-Id is a duplicate as well: one id space for both.
      const plain = yield* Effect.promise(() => js.publish(orders.name, json(value), { msgID: "order-o-1" }))
      expect(plain.duplicate).toBe(true)
      expect((yield* readPlain(js, jsm, orders.name)).length).toBe(1)
    }))
})

describe("NATS interoperability: a plain client to Sluice", () => {
  test("a JSON message a plain client publishes is consumed with its decoded value, id, key and headers", () =>
    Effect.gen(function* () {
      const { bus, js } = yield* setup
      const orders = ordersTopic()
      const received = yield* consumeInto(bus, orders, "billing")

      const headers = natsHeaders()
      headers.set("trace-id", "plain-trace")
      headers.set("source", "legacy-service")
      const value: Order = { orderId: "p-1", total: 9.99 }
      const ack = yield* Effect.promise(() => js.publish(orders.name, json(value), { msgID: "plain-1", headers }))
      const keyed = natsHeaders()
      keyed.set("sluice-key", "customer-9")
      const second = yield* Effect.promise(() =>
        js.publish(orders.name, json({ orderId: "p-2", total: 1 }), { msgID: "plain-2", headers: keyed })
      )

      const first = yield* takeWithin(received, "the plain client's message")
      expect(first.topic).toBe(orders.name)
      expect(first.payload).toEqual(value)
      expect(first.id).toBe("plain-1")
      expect(first.sequence).toBe(ack.seq)
      expect(first.key).toBeUndefined()
      // The wire's own headers (Nats-Msg-Id, sluice-key) are not among the message's headers.
      expect(first.headers).toEqual({ "trace-id": "plain-trace", source: "legacy-service" })
      expect(first.attempt).toBe(1)

      const next = yield* takeWithin(received, "the second plain message")
      expect(next.payload).toEqual({ orderId: "p-2", total: 1 })
      expect(next.id).toBe("plain-2")
      expect(next.sequence).toBe(second.seq)
      expect(next.key).toBe("customer-9")
      expect(next.headers).toEqual({})
      yield* eventually("both messages acknowledged", lagIs(bus, orders, "billing", { pending: 0, inFlight: 0 }))
    }))

  test("a message a plain client publishes without a msgID gets the stable id <topic>:<sequence>", () =>
    Effect.gen(function* () {
      const { bus, js } = yield* setup
      const orders = ordersTopic()
      yield* bus.transport.ensureTopic(orders.config)
      const first = yield* Effect.promise(() => js.publish(orders.name, json({ orderId: "n-1", total: 1 })))
      // The same content again: without an id it is a new message, not a duplicate.
      const second = yield* Effect.promise(() => js.publish(orders.name, json({ orderId: "n-1", total: 1 })))
      expect(second.duplicate).toBe(false)

      const readIds = (group: string) =>
        Stream.unwrap(bus.subscribe(orders, { group, start: StartPosition.all })).pipe(
          Stream.take(2),
          Stream.mapEffect((message) => Effect.as(message.ack, message.id)),
          Stream.runCollect,
          Effect.timeoutOrElse({
            duration: "8 seconds",
            orElse: () => Effect.sync(() => expect.fail(`expected two messages for group ${group}`))
          })
        )
      const ids = yield* readIds("first-reader")
      expect(ids).toEqual([`${orders.name}:${first.seq}`, `${orders.name}:${second.seq}`])
      // Stable: another group (and so any redelivery) sees the same ids.
      expect(yield* readIds("second-reader")).toEqual(ids)
    }))
})

describe("NATS interoperability: malformed messages from a plain client", () => {
  test("invalid JSON and JSON that does not match the schema go to the dead letter untouched, and consuming goes on", (logs) =>
    Effect.gen(function* () {
      const { bus, js, jsm } = yield* setup
      const orders = ordersTopic()
      const received = yield* consumeInto(bus, orders, "billing")

      const notJson = encoder.encode('{"orderId": "b-1", "total": ')
      const wrongShape = json({ orderId: 7, amount: "ten" })
      const trace = natsHeaders()
      trace.set("trace-id", "bad-trace")
      const badJson = yield* Effect.promise(() =>
        js.publish(orders.name, notJson, { msgID: "bad-json", headers: trace })
      )
      const badShape = yield* Effect.promise(() => js.publish(orders.name, wrongShape, { msgID: "bad-shape" }))
      const good = yield* Effect.promise(() =>
        js.publish(orders.name, json({ orderId: "g-1", total: 3 }), { msgID: "good-1" })
      )

      // The consumer goes on with the next good message; the handler never sees the malformed ones.
      const message = yield* takeWithin(received, "the good message after the malformed ones")
      expect(message.id).toBe("good-1")
      expect(message.sequence).toBe(good.seq)
      expect(message.payload).toEqual({ orderId: "g-1", total: 3 })

      // The originals are acknowledged: nothing pending, nothing in flight.
      yield* eventually("every message acknowledged", lagIs(bus, orders, "billing", { pending: 0, inFlight: 0 }))
      expect(yield* Queue.size(received)).toBe(0)

      // The dead letter holds both, with their original bytes and why, readable by a plain client.
      yield* eventually(
        "two dead letters",
        Effect.map(bus.transport.topicInfo(orders.deadLetter), (info) => info.messages === 2).pipe(
          Effect.orElseSucceed(() => false)
        )
      )
      const dead = yield* readPlain(js, jsm, orders.deadLetter)
      const byId = new Map(dead.map((letter) => [letter.headers?.get(DeadLetter.Headers.id), letter]))
      const deadJson = byId.get("bad-json")
      const deadShape = byId.get("bad-shape")
      if (deadJson === undefined || deadShape === undefined) return expect.fail("expected both dead letters")

      expect(deadJson.subject).toBe(orders.deadLetter)
      expect(bytesOf(deadJson.data)).toEqual(bytesOf(notJson))
      expect(deadJson.headers?.get(DeadLetter.Headers.reason)).toMatch(/cannot decode the payload: not valid JSON/)
      expect(deadJson.headers?.get(DeadLetter.Headers.topic)).toBe(orders.name)
      expect(deadJson.headers?.get(DeadLetter.Headers.sequence)).toBe(String(badJson.seq))
      expect(deadJson.headers?.get(DeadLetter.Headers.group)).toBe("billing")
      expect(deadJson.headers?.get(DeadLetter.Headers.attempts), "the handler never ran").toBe("0")
      expect(deadJson.headers?.get(DeadLetter.Headers.deliveries)).toBe("1")
      // The original headers travel with it.
      expect(deadJson.headers?.get("trace-id")).toBe("bad-trace")

      expect(bytesOf(deadShape.data)).toEqual(bytesOf(wrongShape))
      const reason = deadShape.headers?.get(DeadLetter.Headers.reason) ?? ""
      expect(reason).toMatch(/^cannot decode the payload: /)
      expect(reason).toMatch(/orderId|total/)
      expect(reason).not.toMatch(/[\r\n]/)
      expect(deadShape.headers?.get(DeadLetter.Headers.sequence)).toBe(String(badShape.seq))

      // Sluice reads the dead letters back, without a schema of its own.
      const read = yield* Stream.unwrap(
        bus.subscribe(DeadLetter.topicOf(orders), { group: "inspector", start: StartPosition.all })
      ).pipe(
        Stream.map(DeadLetter.read),
        Stream.take(2),
        Stream.runCollect,
        Effect.timeoutOrElse({
          duration: "8 seconds",
          orElse: () => Effect.sync(() => expect.fail("expected two dead letters"))
        })
      )
      const letters = read.filter((letter) => letter !== undefined)
      expect(letters.map((letter) => letter.id).sort()).toEqual(["bad-json", "bad-shape"])
      expect(letters.every((letter) => letter.topic === orders.name && letter.group === "billing")).toBe(true)
      expect(letters.every((letter) => letter.reason.startsWith("cannot decode the payload: "))).toBe(true)
      const payloads = new Map(letters.map((letter) => [letter.id, letter.payload]))
      expect(bytesOf(payloads.get("bad-json"))).toEqual(bytesOf(notJson))
      expect(bytesOf(payloads.get("bad-shape"))).toEqual(bytesOf(wrongShape))

      // The original stream still holds all three: dead-lettering moves nothing out of the topic.
      expect((yield* bus.transport.topicInfo(orders.name)).messages).toBe(3)
      // And the Bus says what it did.
      expect(logs.filter((line) => line.startsWith("Warn: dead-lettered message")).length).toBe(2)
      expect(logs.some((line) => line.includes("bad-json") && line.includes("not valid JSON"))).toBe(true)
    }))

  test("a malformed message whose headers are directives to the server (Nats-Expected-Stream) still reaches the dead letter", (logs) =>
    Effect.gen(function* () {
      const { bus, js, jsm } = yield* setup
      const orders = ordersTopic()
      yield* consumeInto(bus, orders, "billing")
      const stream = yield* streamOf(jsm, orders.name)
      const notJson = encoder.encode("{not json")
      const headers = natsHeaders()
      // The server checks it when the plain client publishes, and stores it with the message.
      headers.set("Nats-Expected-Stream", stream)
      headers.set("trace-id", "directive-trace")
      yield* Effect.promise(() => js.publish(orders.name, notJson, { msgID: "bad-directive", headers }))

      // Copied onto the dead letter, the header would name the wrong stream, and the server would refuse it.
      yield* eventually(
        "the dead letter",
        Effect.map(bus.transport.topicInfo(orders.deadLetter), (info) => info.messages === 1).pipe(
          Effect.orElseSucceed(() => false)
        )
      )
      const [letter] = yield* readPlain(js, jsm, orders.deadLetter)
      expect(letter?.headers?.get(DeadLetter.Headers.id)).toBe("bad-directive")
      expect(letter?.headers?.get(DeadLetter.Headers.reason)).toMatch(/not valid JSON/)
      expect(letter?.headers?.get("trace-id")).toBe("directive-trace")
      expect(letter?.headers?.has("Nats-Expected-Stream")).toBe(false)
      expect(bytesOf(letter?.data)).toEqual(bytesOf(notJson))
      yield* eventually("the original acknowledged", lagIs(bus, orders, "billing", { pending: 0, inFlight: 0 }))
      expect(logs.some((line) => line.startsWith("Error: cannot dead-letter"))).toBe(false)
    }))

  test("a malformed message with a long id, a long key and headers Sluice would refuse still reaches the dead letter, which keeps what it can and counts the rest", (logs) =>
    Effect.gen(function* () {
      const { bus, js, jsm } = yield* setup
      const orders = ordersTopic()
      yield* consumeInto(bus, orders, "billing")
      const longId = `raw-${"i".repeat(1000)}`
      const headers = natsHeaders()
      headers.set("sluice-key", "k".repeat(400))
      headers.set("x+plus", "a name Sluice refuses")
      headers.set("x-tab", "a\tvalue")
      headers.set("x-big", "b".repeat(3500))
      headers.set("trace-id", "long-trace")
      yield* Effect.promise(() => js.publish(orders.name, encoder.encode("{not json"), { msgID: longId, headers }))

      yield* eventually(
        "the dead letter",
        Effect.map(bus.transport.topicInfo(orders.deadLetter), (info) => info.messages === 1).pipe(
          Effect.orElseSucceed(() => false)
        )
      )
      const [letter] = yield* readPlain(js, jsm, orders.deadLetter)
      const idHeader = letter?.headers?.get(DeadLetter.Headers.id) ?? ""
      expect(idHeader.startsWith("raw-iii")).toBe(true)
      expect(idHeader).toContain("sha256:")
      expect(letter?.headers?.get("trace-id")).toBe("long-trace")
      expect(letter?.headers?.has("sluice-key"), "a key longer than any key").toBe(false)
      expect(letter?.headers?.get(DeadLetter.Headers.droppedHeaders)).toBe("3")
      yield* eventually("the original acknowledged", lagIs(bus, orders, "billing", { pending: 0, inFlight: 0 }))
      expect(logs.some((line) => line.startsWith("Error: cannot dead-letter"))).toBe(false)
    }))
})
