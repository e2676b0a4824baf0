/**
 * Subject safety on NATS. A topic name becomes a subject and a stream name, a group name a consumer name
 * in API subjects: a wildcard, an empty token, whitespace, CR/LF or an overlong name there could widen a
 * subscription, write into another topic, inject a protocol line or make the server drop the connection.
 * Every such name is refused with an `InvalidName` that says what is wrong, before anything reaches the
 * server; a plain NATS client watching every subject and every stream confirms that no other topic gained,
 * lost or leaked a message. Keys travel in a header: wildcards and dots are fine there, CR/LF and overlong
 * keys are not. Payloads above the server's `max_payload` are refused with `PayloadTooLarge`.
 */

import { describe, expect, it } from "@effect/vitest"
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Bus, Errors, type Message, StartPosition, Topic, type Transport } from "@sluice/core"
import { Effect, Exit, Logger, Schema, Scope, Stream } from "effect"
import { afterAll } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

// Servers of this file's own, always: the checks below watch every subject of the server (`>`), and the
// topics have the plain names a user would pick (`orders.created`), which a shared server may already hold.
const SMALL_MAX_PAYLOAD = 65_536
const [server, smallServer] = await Promise.all([
  NatsServer.start(),
  // nats-server 2.9.10 has no command-line flag for max_payload: it takes it from a config file.
  NatsServer.start({ configText: `max_payload: ${SMALL_MAX_PAYLOAD}` })
])

const Order = Schema.Struct({ orderId: Schema.String, total: Schema.Number })
type Order = typeof Order.Type

const encoder = new TextEncoder()

/** A hostile name and what its refusal must say. */
interface Hostile {
  readonly name: string
  readonly reason: RegExp
}

const HOSTILE_TOPICS: ReadonlyArray<Hostile> = [
  { name: "orders.>", reason: /wildcard/ },
  { name: ">", reason: /wildcard/ },
  { name: "*", reason: /wildcard/ },
  { name: "orders.*", reason: /wildcard/ },
  { name: "orders.cre*", reason: /wildcard/ },
  { name: "orders..x", reason: /empty token/ },
  { name: ".orders", reason: /empty token/ },
  { name: "orders.", reason: /empty token/ },
  { name: "", reason: /empty/ },
  { name: "x".repeat(5_000), reason: /5000 characters/ },
  { name: `orders.${"y".repeat(4_993)}`, reason: /5000 characters/ },
  { name: "orders\r\nPUB orders.created 1\r\nx", reason: /control character U\+000D/ },
  { name: "orders.created\r\n", reason: /control character U\+000D/ },
  { name: "orders\u0000created", reason: /control character/ },
  { name: "orders created", reason: /whitespace/ },
  { name: "orders.created ", reason: /whitespace/ },
  { name: "orders\tcreated", reason: /control character U\+0009/ },
  // The stream of `orders.created` is `orders~created`: a name holding `~` could reach it.
  { name: "orders~created", reason: /outside A-Z a-z 0-9 _ -/ },
  // JetStream's API is made of subjects too.
  { name: "$JS.API.STREAM.PURGE.orders~created", reason: /outside A-Z a-z 0-9 _ -/ },
  { name: "orders/created", reason: /outside A-Z a-z 0-9 _ -/ }
]

const HOSTILE_GROUPS: ReadonlyArray<Hostile> = [
  { name: ">", reason: /wildcard/ },
  { name: "*", reason: /wildcard/ },
  { name: "billing.>", reason: /single token/ },
  { name: "a.b", reason: /single token/ },
  { name: "", reason: /empty/ },
  { name: "g\r\nPUB x", reason: /control character U\+000D/ },
  // Several things wrong: the first one found is named.
  { name: "g\r\nPUB orders.created 1", reason: /single token/ },
  { name: "billing team", reason: /whitespace/ },
  { name: "g".repeat(5_000), reason: /5000 characters/ }
]

/** Keys a Sluice key may be: they travel in a header, so wildcards, dots and spaces are harmless. */
const HARMLESS_KEYS = [
  "orders.>",
  ">",
  "*",
  "orders.*",
  "orders..x",
  ".orders",
  "orders.",
  "orders created",
  "k".repeat(256)
]

const HOSTILE_KEYS: ReadonlyArray<Hostile> = [
  { name: "orders\r\nPUB x", reason: /control character/ },
  { name: "customer-1\n", reason: /control character/ },
  { name: "customer\u0000", reason: /control character/ },
  { name: "k".repeat(257), reason: /257 characters, more than 256/ },
  { name: "k".repeat(5_000), reason: /5000 characters, more than 256/ },
  { name: "", reason: /empty/ }
]

/** A readable label for a hostile string in a test name. */
const label = (value: string): string =>
  value.length > 40 ? `${JSON.stringify(value.slice(0, 12))}… (${value.length} characters)` : JSON.stringify(value)

/** Checks that `error` is the refusal of `hostile` as a name of `kind`, and that its message is one safe line. */
const expectRefused = (error: unknown, kind: Errors.InvalidName["kind"], hostile: Hostile, where = "the refusal") => {
  expect(error, where).toBeInstanceOf(Errors.InvalidName)
  const refusal = error as Errors.InvalidName
  expect(refusal.kind, where).toBe(kind)
  expect(refusal.value, where).toBe(hostile.name)
  expect(refusal.message, where).toMatch(hostile.reason)
  expect(refusal.message, where).toMatch(new RegExp(`^invalid ${kind} `))
  // The message is safe to log: one line, bounded, with the name escaped.
  expect(
    ["\r", "\n", "\u0000"].filter((character) => refusal.message.includes(character)),
    where
  ).toEqual([])
  expect(refusal.message.length, where).toBeLessThan(400)
}

// ---------------------------------------------------------------------------
// The watched world: two topics with messages, and a plain client that sees everything

/** The state of every stream of the server, by name: what a write, a purge or a delete would change. */
const streamStates = (jsm: JetStreamManager) =>
  Effect.promise(async () => {
    const states: Record<string, { messages: number; first: number; last: number }> = {}
    for await (const info of jsm.streams.list())
      states[info.config.name] = {
        messages: info.state.messages,
        first: info.state.first_seq,
        last: info.state.last_seq
      }
    return states
  })

/**
 * Background traffic, not messages of a topic: the watchers' pulls and what answers them, and the server's
 * advisories (published late, possibly for an earlier test's API call; an API call made during an attempt
 * shows as its own `$JS.API` request, which is not background).
 */
const isBackground = (subject: string) =>
  subject.startsWith("_INBOX.") ||
  subject.startsWith("$JS.API.CONSUMER.MSG.NEXT.") ||
  subject.startsWith("$JS.EVENT.ADVISORY.")

/**
 * Records the subject of every message the server routes (a subscription on `>`), until `stop`, which
 * returns them without the server's own background traffic. Whatever was sent before `stop` reaches the
 * server before a flush's answer, and the `>` subscriber right after: `stop` gives it a moment.
 */
const routedSubjects = (nc: NatsConnection) =>
  Effect.gen(function* () {
    const seen: Array<string> = []
    const everything = nc.subscribe(">", {
      callback: (_error, message) => {
        seen.push(message.subject)
      }
    })
    yield* Effect.promise(() => nc.flush())
    const stop = Effect.gen(function* () {
      yield* Effect.promise(() => nc.flush())
      yield* Effect.sleep("100 millis")
      everything.unsubscribe()
      return seen.filter((subject) => !isBackground(subject))
    })
    return { stop }
  })

/**
 * Two topics, `orders.created` (3 messages) and `orders.paid` (2), each read by a Sluice subscriber that
 * records what it receives, and a plain NATS connection. `watch` runs `body` while a core NATS
 * subscription on `>` records every message the server routes (any subscription, however wide, could only
 * receive a subset of these), and checks afterwards that no stream changed and no topic message moved.
 */
const world = Effect.gen(function* () {
  const transport = yield* NatsTransport.make(server.connectTarget)
  const bus = Bus.make(transport)
  const created = Topic.make({ name: "orders.created", schema: Order })
  const paid = Topic.make({ name: "orders.paid", schema: Order })
  yield* bus.publishAll(
    created,
    [1, 2, 3].map((n) => ({ orderId: `c-${n}`, total: n }))
  )
  yield* bus.publishAll(
    paid,
    [1, 2].map((n) => ({ orderId: `p-${n}`, total: n }))
  )

  const received: Record<string, Array<Message.Message<Order>>> = { "orders.created": [], "orders.paid": [] }
  for (const topic of [created, paid]) {
    yield* Stream.unwrap(bus.subscribe(topic, { group: "watcher", start: StartPosition.all })).pipe(
      Stream.runForEach((message) =>
        Effect.andThen(
          message.ack,
          Effect.sync(() => {
            received[topic.name]?.push(message)
          })
        )
      ),
      Effect.forkScoped
    )
  }
  yield* eventually(
    "the watchers to have received and acknowledged the stored messages",
    Effect.gen(function* () {
      const lags = yield* Effect.all([bus.lag(created, "watcher"), bus.lag(paid, "watcher")])
      return (
        received["orders.created"]?.length === 3 &&
        received["orders.paid"]?.length === 2 &&
        lags.every((lag) => lag.pending === 0 && lag.inFlight === 0)
      )
    }).pipe(Effect.orElseSucceed(() => false))
  )

  const nc = yield* plainConnection(server.connectTarget)
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))

  const watch = <A, E>(body: Effect.Effect<A, E, Scope.Scope>, allowedSubjects: ReadonlyArray<string> = []) =>
    Effect.gen(function* () {
      const before = yield* streamStates(jsm)
      const routing = yield* routedSubjects(nc)
      const result = yield* Effect.scoped(body)
      const seen = yield* routing.stop
      const after = yield* streamStates(jsm)

      const moved = seen.filter((subject) => !allowedSubjects.includes(subject))
      expect(moved, "messages the server routed during the attempt").toEqual([])
      const unchanged = Object.fromEntries(
        Object.entries(before).filter(([name]) => !allowedStream(name, allowedSubjects))
      )
      const afterUnchanged = Object.fromEntries(
        Object.entries(after).filter(([name]) => !allowedStream(name, allowedSubjects))
      )
      // No stream gained or lost a message, none appeared, none vanished.
      expect(afterUnchanged).toEqual(unchanged)
      // The watchers received nothing beyond the messages their topics held.
      expect(received["orders.created"]?.map((message) => message.payload.orderId)).toEqual(["c-1", "c-2", "c-3"])
      expect(received["orders.paid"]?.map((message) => message.payload.orderId)).toEqual(["p-1", "p-2"])
      return { result, seen }
    })

  return { transport, bus, created, paid, nc, jsm, watch }
})

const allowedStream = (stream: string, allowedSubjects: ReadonlyArray<string>) =>
  allowedSubjects.some((subject) => subject.replaceAll(".", "~") === stream)

const plainConnection = (target: NatsServer.ConnectTarget) =>
  Effect.acquireRelease(
    Effect.promise(() => connect({ ...target, timeout: 2_000 })),
    (connection: NatsConnection) => Effect.promise(() => connection.close())
  )

/** Waits until `check` holds; fails naming `what` after `timeoutMs`. */
const eventually = <E>(what: string, check: Effect.Effect<boolean, E>, timeoutMs = 8_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (yield* check) return
      yield* Effect.sleep("20 millis")
    }
    return expect.fail(`expected ${what} within ${timeoutMs} ms`)
  })

/** Each transport operation a topic name reaches, failing with what it failed with. */
const topicOperations = (
  transport: Transport.Transport,
  name: string
): ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> => {
  const record = (topic: string): Transport.OutgoingRecord => ({
    topic,
    id: "hostile-1",
    headers: {},
    payload: encoder.encode(JSON.stringify({ orderId: "h-1", total: 1 }))
  })
  return [
    ["ensureTopic", transport.ensureTopic({ name })],
    ["publish", transport.publish([record(name)])],
    // The whole batch is checked first: the valid record before the hostile one is not stored either.
    ["publish after a valid record", transport.publish([record("orders.created"), record(name)])],
    ["subscribe (broadcast)", Effect.scoped(transport.subscribe({ topic: name }))],
    [
      "subscribe (group)",
      Effect.scoped(transport.subscribe({ topic: name, group: "billing", start: StartPosition.all }))
    ],
    ["lag", transport.lag(name, "watcher")],
    ["topicInfo", transport.topicInfo(name)]
  ]
}

/** A topic built by hand, as code that bypasses `Topic.make` might. */
const handMadeTopic = (name: string): Topic.Topic<Order> => {
  const valid = Topic.make({ name: "placeholder", schema: Order })
  return { ...valid, name, config: { name }, deadLetter: Topic.deadLetterOf(name) }
}

// One watched world for the whole file, set up once: the checks compare before and after each attempt.
const worldScope = Effect.runSync(Scope.make())
const shared = await Effect.runPromise(world.pipe(Scope.provide(worldScope), Effect.provide(Logger.layer([]))))
afterAll(async () => {
  await Effect.runPromise(Scope.close(worldScope, Exit.void))
  await Promise.all([server.stop(), smallServer.stop()])
})

/** Runs a test with the Bus's log lines kept off the output. */
const test = (name: string, body: () => Effect.Effect<void, unknown, Scope.Scope>) =>
  it.live(name, () => body().pipe(Effect.provide(Logger.layer([]))))

// ---------------------------------------------------------------------------

describe("NATS subjects: hostile topic names", () => {
  for (const hostile of HOSTILE_TOPICS) {
    test(`topic ${label(hostile.name)} is refused everywhere, saying why, and reaches no other topic`, () =>
      Effect.gen(function* () {
        // Defining it throws at once.
        let thrown: unknown
        try {
          Topic.make({ name: hostile.name, schema: Order })
        } catch (error) {
          thrown = error
        }
        expectRefused(thrown, "topic", hostile)

        const { transport, bus, watch } = shared
        yield* watch(
          Effect.gen(function* () {
            for (const [operation, attempt] of topicOperations(transport, hostile.name)) {
              expectRefused(yield* Effect.flip(attempt), "topic", hostile, operation)
            }
            // Through the Bus, with a topic built by hand around Topic.make.
            const smuggled = handMadeTopic(hostile.name)
            expectRefused(yield* Effect.flip(bus.publish(smuggled, { orderId: "h-2", total: 2 })), "topic", hostile)
            expectRefused(yield* Effect.flip(bus.topicInfo(smuggled)), "topic", hostile)
            expectRefused(
              yield* Effect.flip(
                Stream.runDrain(Stream.take(Stream.unwrap(bus.subscribe(smuggled, { group: "billing" })), 1))
              ),
              "topic",
              hostile
            )
            expectRefused(
              yield* Effect.flip(bus.consume(smuggled, { group: "billing" }, () => Effect.void)),
              "topic",
              hostile
            )
          })
        )
      }))
  }
})

describe("NATS subjects: hostile group names", () => {
  for (const hostile of HOSTILE_GROUPS) {
    test(`group ${label(hostile.name)} is refused by subscribe and lag, saying why, and joins no consumer`, () =>
      Effect.gen(function* () {
        const { transport, bus, created, jsm, watch } = shared
        yield* watch(
          Effect.gen(function* () {
            expectRefused(
              yield* Effect.flip(Effect.scoped(transport.subscribe({ topic: created.name, group: hostile.name }))),
              "group",
              hostile
            )
            expectRefused(yield* Effect.flip(transport.lag(created.name, hostile.name)), "group", hostile)
            expectRefused(
              yield* Effect.flip(bus.consume(created, { group: hostile.name }, () => Effect.void)),
              "group",
              hostile
            )
          })
        )
        // No consumer was created or touched: the topic still has its watcher only.
        const consumers = yield* Effect.promise(async () => {
          const names: Array<string> = []
          for await (const info of jsm.consumers.list("orders~created")) names.push(info.name)
          return names
        })
        expect(consumers).toEqual(["watcher"])
      }))
  }
})

describe("NATS subjects: keys", () => {
  for (const hostile of HOSTILE_KEYS) {
    test(`key ${label(hostile.name)} is refused before anything is sent, saying why`, () =>
      Effect.gen(function* () {
        const { bus, transport, created, watch } = shared
        const keyedBy = Topic.make({ name: "orders.created", schema: Order, key: () => hostile.name })
        yield* watch(
          Effect.gen(function* () {
            expectRefused(
              yield* Effect.flip(bus.publish(created, { orderId: "h-1", total: 1 }, { key: hostile.name })),
              "key",
              hostile
            )
            // From the topic's key function, in a batch whose every message is refused with it.
            expectRefused(yield* Effect.flip(bus.publishAll(keyedBy, [{ orderId: "h-2", total: 2 }])), "key", hostile)
            // A valid record before it in the batch is not stored either.
            const payload = encoder.encode(JSON.stringify({ orderId: "h-3", total: 3 }))
            expectRefused(
              yield* Effect.flip(
                transport.publish([
                  { topic: created.name, id: "fine-1", key: "customer-1", headers: {}, payload },
                  { topic: created.name, id: "hostile-1", key: hostile.name, headers: {}, payload }
                ])
              ),
              "key",
              hostile
            )
          })
        )
      }))
  }

  test("a key with wildcards, dots or spaces travels in a header, and the message stays in its own topic", () =>
    Effect.gen(function* () {
      const { bus, watch, nc } = shared
      const keyed = Topic.make({ name: "orders.keyed", schema: Order })
      const { seen } = yield* watch(
        Effect.forEach(HARMLESS_KEYS, (key, i) => bus.publish(keyed, { orderId: `k-${i}`, total: i }, { key })),
        // The Bus creates the topic on its first publish: JetStream API calls for that stream only.
        [keyed.name, "$JS.API.STREAM.INFO.orders~keyed", "$JS.API.STREAM.CREATE.orders~keyed"]
      )
      // Every message the server routed went to the keyed topic's subject, and nowhere else.
      expect(seen.filter((subject) => !subject.startsWith("$JS."))).toEqual(HARMLESS_KEYS.map(() => keyed.name))

      const messages = yield* Stream.unwrap(bus.subscribe(keyed, { group: "reader", start: StartPosition.all })).pipe(
        Stream.take(HARMLESS_KEYS.length),
        Stream.runCollect
      )
      expect(messages.map((message) => message.key)).toEqual(HARMLESS_KEYS)
      expect(messages.map((message) => message.topic)).toEqual(HARMLESS_KEYS.map(() => keyed.name))
      // A plain client reads the key from the header, unchanged.
      const js = jetstream(nc)
      const plain = yield* Effect.promise(async () => {
        const consumer = await js.consumers.get("orders~keyed")
        const keys: Array<string | undefined> = []
        for (let i = 0; i < HARMLESS_KEYS.length; i++)
          keys.push((await consumer.next({ expires: 2_000 }))?.headers?.get("sluice-key"))
        return keys
      })
      expect(plain).toEqual(HARMLESS_KEYS)
    }))
})

describe("NATS subjects: payload size", () => {
  /** A record of `size` payload bytes, with a key and headers, for `topic`. */
  const recordOf = (topic: string, id: string, size: number): Transport.OutgoingRecord => ({
    topic,
    id,
    key: "k".repeat(256),
    headers: { "trace-id": "t".repeat(200), source: "subjects-test" },
    payload: new Uint8Array(size).fill(0x61)
  })

  test("the transport's payload limit follows the server's max_payload", () =>
    Effect.gen(function* () {
      const small = yield* NatsTransport.make(smallServer.connectTarget)
      const standard = yield* NatsTransport.make(server.connectTarget)
      const nc = yield* plainConnection(smallServer.connectTarget)
      expect(nc.info?.max_payload).toBe(SMALL_MAX_PAYLOAD)
      // Room is kept for the headers a message carries.
      expect(small.features.maxPayloadBytes).toBeLessThan(SMALL_MAX_PAYLOAD)
      expect(small.features.maxPayloadBytes).toBeGreaterThan(SMALL_MAX_PAYLOAD - 8_192)
      expect(standard.features.maxPayloadBytes).toBe(NatsTransport.features.maxPayloadBytes)
      expect(standard.features.maxPayloadBytes).toBeGreaterThan(small.features.maxPayloadBytes)
    }))

  test("a payload above the server's max_payload fails with PayloadTooLarge carrying the limit, before anything is sent", () =>
    Effect.gen(function* () {
      const transport = yield* NatsTransport.make(smallServer.connectTarget)
      const bus = Bus.make(transport)
      const limit = transport.features.maxPayloadBytes
      const big = Topic.make({ name: "orders.big", schema: Schema.Struct({ blob: Schema.String }) })

      // The Bus creates the topic with its first message.
      expect((yield* bus.publish(big, { blob: "first" })).sequence).toBe(1)
      // Exactly the limit, with a long key and headers, is accepted: the room kept for headers is enough.
      const atLimit = yield* transport.publish([recordOf(big.name, "at-limit", limit)])
      expect(atLimit[0]?.sequence).toBe(2)

      const nc = yield* plainConnection(smallServer.connectTarget)
      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      const routing = yield* routedSubjects(nc)

      for (const size of [limit + 1, SMALL_MAX_PAYLOAD, SMALL_MAX_PAYLOAD + 1, 1024 * 1024 + 1]) {
        const error = yield* Effect.flip(transport.publish([recordOf(big.name, `size-${size}`, size)]))
        expect(error).toBeInstanceOf(Errors.PayloadTooLarge)
        expect(error).toMatchObject({ _tag: "PayloadTooLarge", topic: big.name, size, limit })
        expect(error.message).toContain(`${size} bytes`)
        expect(error.message).toContain(`limit of ${limit} bytes`)
      }
      // In a batch, a small record before the large one is not sent either.
      const batch = yield* Effect.flip(
        transport.publish([recordOf(big.name, "small-1", 10), recordOf(big.name, "large-1", limit + 1)])
      )
      expect(batch).toMatchObject({ _tag: "PayloadTooLarge", size: limit + 1, limit })
      // Through the Bus: the encoded value is measured.
      const value = { blob: "b".repeat(limit) }
      const fromBus = yield* Effect.flip(bus.publish(big, value))
      expect(fromBus).toMatchObject({ _tag: "PayloadTooLarge", topic: big.name, limit })
      expect((fromBus as Errors.PayloadTooLarge).size).toBe(encoder.encode(JSON.stringify(value)).byteLength)

      // Nothing reached the server: no message routed, the stream holds the two messages from before.
      expect(yield* routing.stop).toEqual([])
      const info = yield* Effect.promise(() => jsm.streams.info("orders~big"))
      expect(info.state.messages).toBe(2)

      // The connection is still in order: the server did not drop it.
      const after = yield* bus.publish(big, { blob: "small" })
      expect(after.sequence).toBe(3)
      const stored = yield* Stream.unwrap(
        bus.subscribe(big, { group: "reader", start: StartPosition.sequence(3) })
      ).pipe(Stream.take(1), Stream.runCollect)
      expect(stored.map((message) => message.payload)).toEqual([{ blob: "small" }])
    }))

  test("headers that take a message above the server's max_payload fail with a PayloadTooLarge that counts them, before anything is sent", () =>
    Effect.gen(function* () {
      const transport = yield* NatsTransport.make(smallServer.connectTarget)
      const limit = transport.features.maxPayloadBytes
      const topic = "orders.headers"
      yield* transport.ensureTopic({ name: topic })
      const nc = yield* plainConnection(smallServer.connectTarget)
      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      const routing = yield* routedSubjects(nc)

      // A small payload with a header larger than the server takes, and a payload at the limit with headers
      // beyond the room kept for them: each after a valid record of the same batch.
      for (const [payloadBytes, headerBytes] of [
        [10, SMALL_MAX_PAYLOAD + 1_000],
        [limit, 8_000]
      ] as const) {
        const error = yield* Effect.flip(
          transport.publish([
            { topic, id: `fine-${payloadBytes}`, headers: {}, payload: encoder.encode("{}") },
            {
              topic,
              id: `large-${payloadBytes}`,
              headers: { annotation: "h".repeat(headerBytes) },
              payload: new Uint8Array(payloadBytes)
            }
          ])
        )
        expect(error._tag).toBe("PayloadTooLarge")
        // The error is consistent: the size it reports is above the limit it reports.
        const tooLarge = error as Errors.PayloadTooLarge
        expect(tooLarge.size, tooLarge.message).toBeGreaterThan(tooLarge.limit)
      }

      // The batches were refused whole: nothing routed, nothing stored.
      expect(yield* routing.stop).toEqual([])
      expect((yield* Effect.promise(() => jsm.streams.info("orders~headers"))).state.messages).toBe(0)
    }))
})
