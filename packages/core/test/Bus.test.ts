import { describe, expect } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Logger, Schedule, Schema, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Bus, DeadLetter, Errors, type Message, StartPosition, Topic, type Transport } from "../src/index.ts"
import {
  encoder,
  eventually,
  gatedHandler,
  Job,
  jobs,
  lagIs,
  nothingLeft,
  type Order,
  orders,
  readAll,
  settle,
  setup,
  test,
  text,
  yieldMany
} from "./fixtures.ts"

/**
 * A real memory broker behind a connection that fails: while `faults` is positive, each publish fails with
 * TransportUnavailable, either before reaching the broker (`lose: "request"`) or after the broker stored the
 * records (`lose: "confirmation"`). A transport that can lose a confirmation checks every id, as the port
 * asks (NATS does), so the records are forwarded with `dedup` on.
 */
const faulty = (inner: Transport.Transport, lose: "request" | "confirmation") => {
  const state = { faults: 0, calls: 0 }
  const transport: Transport.Transport = {
    ...inner,
    publish: (sent) =>
      Effect.suspend(() => {
        state.calls++
        const records = sent.map((record) => ({ ...record, dedup: true }))
        if (state.faults <= 0) return inner.publish(records)
        state.faults--
        const fault = new Errors.TransportUnavailable({ operation: "publish", reason: "connection reset (injected)" })
        return lose === "request" ? Effect.fail(fault) : Effect.andThen(inner.publish(records), Effect.fail(fault))
      })
  }
  return { transport, state }
}

// ---------------------------------------------------------------------------

describe("Bus.publish", () => {
  test("confirms each message with its sequence in the topic", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const first = yield* bus.publish(jobs, { n: 1 })
      const second = yield* bus.publish(jobs, { n: 2 })
      expect(first).toEqual({ topic: "jobs", sequence: 1, duplicate: false })
      expect(second).toEqual({ topic: "jobs", sequence: 2, duplicate: false })
      const all = yield* bus.publishAll(jobs, [{ n: 3 }, { n: 4 }, { n: 5 }])
      expect(all.map((receipt) => receipt.sequence)).toEqual([3, 4, 5])
      expect((yield* bus.topicInfo(jobs)).messages).toBe(5)
      expect(yield* bus.publishAll(jobs, [])).toEqual([])
    }))

  test("each message gets its own id unless the caller gives one", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      yield* bus.publishAll(jobs, [{ n: 1 }, { n: 1 }, { n: 1 }])
      yield* bus.publish(jobs, { n: 1 })
      const stored = yield* readAll(transport, "jobs")
      expect(new Set(stored.map((d) => d.id)).size).toBe(4)
    }))

  test("the broker is asked to check only the ids a caller gave, not the ones the Bus generated", () =>
    Effect.gen(function* () {
      const { transport: inner } = yield* setup()
      const sent: Array<Transport.OutgoingRecord> = []
      const recording: Transport.Transport = {
        ...inner,
        publish: (records) =>
          Effect.suspend(() => {
            sent.push(...records)
            return inner.publish(records)
          })
      }
      const bus = Bus.make(recording)
      const keyed = Topic.make({ name: "keyed", schema: Job, id: (job) => `job-${job.n}` })
      yield* bus.publish(jobs, { n: 1 })
      yield* bus.publish(jobs, { n: 2 }, { id: "mine" })
      yield* bus.publish(keyed, { n: 3 })
      expect(sent.map((record) => [record.id === "mine" || record.id === "job-3", record.dedup])).toEqual([
        [false, false],
        [true, true],
        [true, true]
      ])
    }))

  test("republishing with the caller's id is confirmed as a duplicate and stored once", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      yield* bus.publish(jobs, { n: 0 })
      const first = yield* bus.publish(jobs, { n: 1 }, { id: "job-1" })
      const again = yield* bus.publish(jobs, { n: 1 }, { id: "job-1" })
      expect(first).toEqual({ topic: "jobs", sequence: 2, duplicate: false })
      expect(again).toEqual({ topic: "jobs", sequence: 2, duplicate: true })
      expect((yield* bus.topicInfo(jobs)).messages).toBe(2)
    }))

  test("the topic's id function makes a republished value a duplicate", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      const first = yield* bus.publish(orders, { orderId: "a-1", total: 5 })
      const again = yield* bus.publish(orders, { orderId: "a-1", total: 5 })
      const other = yield* bus.publish(orders, { orderId: "a-2", total: 5 })
      expect([first.duplicate, again.duplicate, other.duplicate]).toEqual([false, true, false])
      expect(again.sequence).toBe(first.sequence)
      const batch = yield* bus.publishAll(orders, [
        { orderId: "a-2", total: 5 },
        { orderId: "a-3", total: 5 }
      ])
      expect(batch.map((receipt) => receipt.duplicate)).toEqual([true, false])
      const stored = yield* readAll(transport, "orders")
      expect(stored.map((d) => d.id)).toEqual(["order-a-1", "order-a-2", "order-a-3"])
    }))

  test("the key from the topic's key function, or the caller's, reaches the consumer", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const received: Array<Message.Message<typeof Order.Type>> = []
      yield* bus.consume(orders, { group: "billing" }, (message) => Effect.sync(() => received.push(message)))
      yield* bus.publish(orders, { orderId: "b-7", total: 1 })
      yield* bus.publish(orders, { orderId: "b-8", total: 1 }, { key: "vip" })
      yield* eventually("both orders to be handled", () => received.length === 2)
      expect(received.map((m) => m.key)).toEqual(["customer-b", "vip"])
      expect(received.map((m) => m.id)).toEqual(["order-b-7", "order-b-8"])
    }))

  test("headers travel to the consumer untouched", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const received: Array<Message.Message<Job>> = []
      yield* bus.consume(jobs, { group: "g" }, (message) => Effect.sync(() => received.push(message)))
      const headers = { "trace-id": "4bf92f3577b34da6", "x.tenant": "acme", "content-note": "a b: c; ünï" }
      yield* bus.publish(jobs, { n: 1 }, { headers })
      yield* bus.publishAll(jobs, [{ n: 2 }], { headers: { origin: "batch" } })
      yield* eventually("both jobs to be handled", () => received.length === 2)
      expect(received[0]?.headers).toEqual(headers)
      expect(received[1]?.headers).toEqual({ origin: "batch" })
    }))

  test("a received message carries its topic, sequence, publish time and attempt", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const received: Array<Message.Message<Job>> = []
      yield* bus.consume(jobs, { group: "g" }, (message) => Effect.sync(() => received.push(message)))
      yield* TestClock.adjust("5 seconds")
      const receipt = yield* bus.publish(jobs, { n: 42 }, { id: "job-42" })
      yield* eventually("the job to be handled", () => received.length === 1)
      const [message] = received
      expect(message?.payload).toEqual({ n: 42 })
      expect(message?.topic).toBe("jobs")
      expect(message?.id).toBe("job-42")
      expect(message?.sequence).toBe(receipt.sequence)
      expect(message?.publishedAt.getTime()).toBe(5_000)
      expect(message?.attempt).toBe(1)
      expect(message?.key).toBeUndefined()
    }))

  test("a value that does not match the schema fails with EncodeError and nothing is stored", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      yield* bus.publish(jobs, { n: 1 })
      const bad = { n: "one" } as unknown as Job
      const error = yield* Effect.flip(bus.publish(jobs, bad))
      expect(error._tag).toBe("EncodeError")
      expect(error._tag === "EncodeError" && error.topic).toBe("jobs")
      expect(error.message).toContain("n")
      // One bad value in a batch: nothing of the batch is stored.
      const batchError = yield* Effect.flip(bus.publishAll(jobs, [{ n: 2 }, bad, { n: 3 }]))
      expect(batchError._tag).toBe("EncodeError")
      expect(yield* bus.topicInfo(jobs)).toMatchObject({ messages: 1, lastSequence: 1 })
    }))

  test("an oversized payload fails with PayloadTooLarge, is not retried, and nothing is stored", () =>
    Effect.gen(function* () {
      const { transport: inner } = yield* setup({ maxPayloadBytes: 100 })
      const { transport, state } = faulty(inner, "request")
      const bus = Bus.make(transport)
      const Note = Schema.Struct({ text: Schema.String })
      const notes = Topic.make({ name: "notes", schema: Note })
      yield* bus.publish(notes, { text: "short" })
      const callsBefore = state.calls
      const error = yield* Effect.flip(bus.publish(notes, { text: "x".repeat(200) }))
      expect(error._tag).toBe("PayloadTooLarge")
      if (error._tag === "PayloadTooLarge") {
        expect(error.limit).toBe(100)
        expect(error.size).toBe(encoder.encode(JSON.stringify({ text: "x".repeat(200) })).byteLength)
      }
      expect(state.calls - callsBefore, "a rejected payload is not retried").toBe(1)
      expect((yield* bus.topicInfo(notes)).messages).toBe(1)
    }))

  test("a header value with CR LF is refused with InvalidName and nothing is stored", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      yield* bus.publish(jobs, { n: 1 })
      const error = yield* Effect.flip(bus.publish(jobs, { n: 2 }, { headers: { note: "a\r\nInjected: yes" } }))
      expect(error._tag).toBe("InvalidName")
      expect((yield* bus.topicInfo(jobs)).messages).toBe(1)
    }))

  test("header names Sluice writes or the NATS server reads are refused with InvalidName and nothing is stored", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      for (const name of ["sluice-key", "SLUICE-dead-letter-reason", "Nats-Rollup", "nats-msg-id"]) {
        const one = yield* Effect.flip(bus.publish(jobs, { n: 1 }, { headers: { "trace-id": "t", [name]: "x" } }))
        expect(one, name).toMatchObject({ _tag: "InvalidName", kind: "header", value: name })
        const batch = yield* Effect.flip(bus.publishAll(jobs, [{ n: 2 }, { n: 3 }], { headers: { [name]: "x" } }))
        expect(batch, name).toMatchObject({ _tag: "InvalidName", kind: "header", value: name })
      }
      expect((yield* bus.topicInfo(jobs)).messages).toBe(0)
    }))

  describe("retries a publish that met TransportUnavailable", () => {
    test("and succeeds once the broker answers, waiting between attempts, storing the message once", () =>
      Effect.gen(function* () {
        const { transport: inner } = yield* setup()
        const { transport, state } = faulty(inner, "request")
        const bus = Bus.make(transport)
        yield* bus.publish(jobs, { n: 0 })
        state.faults = 5
        state.calls = 0
        const publishing = yield* Effect.forkChild(bus.publish(jobs, { n: 1 }))
        yield* settle
        expect(state.calls, "the first retry waits for its backoff").toBe(1)
        expect(publishing.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 minute")
        const receipt = yield* Fiber.join(publishing)
        expect(state.calls).toBe(6)
        expect(receipt).toEqual({ topic: "jobs", sequence: 2, duplicate: false })
        expect((yield* bus.topicInfo(jobs)).messages).toBe(2)
      }))

    test("and stores the message once when the broker stored it but the confirmation was lost", () =>
      Effect.gen(function* () {
        const { transport: inner } = yield* setup()
        const { transport, state } = faulty(inner, "confirmation")
        const bus = Bus.make(transport)
        yield* bus.publish(jobs, { n: 0 })
        state.faults = 3
        const publishing = yield* Effect.forkChild(bus.publish(jobs, { n: 1 }))
        const batch = yield* Effect.forkChild(bus.publishAll(jobs, [{ n: 2 }, { n: 3 }]))
        yield* TestClock.adjust("1 minute")
        const receipt = yield* Fiber.join(publishing)
        const receipts = yield* Fiber.join(batch)
        expect(receipt.sequence).toBe(2)
        expect(receipts.map((r) => r.sequence)).toEqual([3, 4])
        const stored = yield* readAll(inner, "jobs")
        expect(stored.map((d) => JSON.parse(text(d.payload)))).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }])
      }))

    test("and fails with TransportUnavailable when the faults outlast the retry schedule", () =>
      Effect.gen(function* () {
        const { transport: inner } = yield* setup()
        const { transport, state } = faulty(inner, "request")
        const bus = Bus.make(transport)
        yield* bus.publish(jobs, { n: 0 })
        state.faults = 1_000
        state.calls = 0
        const publishing = yield* Effect.forkChild(Effect.flip(bus.publish(jobs, { n: 1 })))
        yield* TestClock.adjust("10 minutes")
        const error = yield* Fiber.join(publishing)
        expect(error._tag).toBe("TransportUnavailable")
        expect(error.message).toContain("connection reset (injected)")
        expect(state.calls, "one attempt and five retries").toBe(6)
        expect((yield* bus.topicInfo(jobs)).messages).toBe(1)
      }))

    test("following the publishRetry schedule of the Bus options", () =>
      Effect.gen(function* () {
        const { transport: inner } = yield* setup()
        const { transport, state } = faulty(inner, "request")
        const bus = Bus.make(transport, {
          publishRetry: Schedule.max([Schedule.spaced("10 seconds"), Schedule.recurs(2)]),
          publishTimeout: "1 minute"
        })
        yield* bus.publish(jobs, { n: 0 })
        state.faults = 2
        state.calls = 0
        const publishing = yield* Effect.forkChild(bus.publish(jobs, { n: 1 }))
        yield* TestClock.adjust("9 seconds")
        yield* settle
        expect(state.calls).toBe(1)
        yield* TestClock.adjust("1 second")
        yield* settle
        expect(state.calls).toBe(2)
        yield* TestClock.adjust("10 seconds")
        expect((yield* Fiber.join(publishing)).sequence).toBe(2)

        state.faults = 3
        state.calls = 0
        const failing = yield* Effect.forkChild(Effect.flip(bus.publish(jobs, { n: 2 })))
        yield* TestClock.adjust("1 minute")
        expect((yield* Fiber.join(failing))._tag).toBe("TransportUnavailable")
        expect(state.calls).toBe(3)
      }))
  })

  describe("gives up a publish not confirmed within publishTimeout", () => {
    /** A Bus whose transport fails every publish, retried every second without end. */
    const failing = (options: Pick<Bus.BusOptions, "publishTimeout"> = {}) =>
      Effect.gen(function* () {
        const { transport: inner } = yield* setup()
        const { transport, state } = faulty(inner, "request")
        const bus = Bus.make(transport, { publishRetry: Schedule.spaced("1 second"), ...options })
        yield* bus.publish(jobs, { n: 0 })
        state.faults = Number.POSITIVE_INFINITY
        state.calls = 0
        return { bus, state }
      })

    test("and fails it then with TransportUnavailable that says it was not confirmed in time, and why", () =>
      Effect.gen(function* () {
        const { bus, state } = yield* failing({ publishTimeout: "5 seconds" })
        const publishing = yield* Effect.forkChild(Effect.flip(bus.publish(jobs, { n: 1 })))
        const batch = yield* Effect.forkChild(Effect.flip(bus.publishAll(jobs, [{ n: 2 }, { n: 3 }])))
        yield* TestClock.adjust("4900 millis")
        expect(publishing.pollUnsafe(), "still retrying before publishTimeout").toBeUndefined()
        expect(batch.pollUnsafe(), "still retrying before publishTimeout").toBeUndefined()
        yield* TestClock.adjust("100 millis")
        for (const error of [yield* Fiber.join(publishing), yield* Fiber.join(batch)]) {
          expect(error).toBeInstanceOf(Errors.TransportUnavailable)
          expect(error.message).toMatch(/not confirmed within 5s .*publish it again with the same id/)
          expect(error.message).toContain("connection reset (injected)")
        }
        expect(state.calls, "two publishes, each tried at 0 to 4 seconds").toBe(10)
        expect((yield* bus.topicInfo(jobs)).messages).toBe(1)
      }))

    test("by default after 10 seconds", () =>
      Effect.gen(function* () {
        expect(Bus.defaultPublishTimeout).toEqual(Duration.seconds(10))
        const { bus } = yield* failing()
        const publishing = yield* Effect.forkChild(Effect.flip(bus.publish(jobs, { n: 1 })))
        yield* TestClock.adjust("9900 millis")
        expect(publishing.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("100 millis")
        expect((yield* Fiber.join(publishing)).message).toMatch(/not confirmed within 10s/)
      }))

    test("interrupting an attempt still waiting for its confirmation then", () =>
      Effect.gen(function* () {
        const { transport: inner } = yield* setup()
        let calls = 0
        // The first attempt fails at once, every later one waits for an answer that never comes.
        const hanging: Transport.Transport = {
          ...inner,
          publish: () =>
            Effect.suspend(() =>
              ++calls === 1
                ? Effect.fail(new Errors.TransportUnavailable({ operation: "publish", reason: "reset (injected)" }))
                : Effect.never
            )
        }
        const bus = Bus.make(hanging, { publishTimeout: "3 seconds" })
        const publishing = yield* Effect.forkChild(Effect.flip(bus.publish(jobs, { n: 1 })))
        yield* TestClock.adjust("3 seconds")
        const error = yield* Fiber.join(publishing)
        expect(error.message).toMatch(/not confirmed within 3s.*reset \(injected\)/)
        expect(calls).toBe(2)
      }))

    test("unless it is Infinity: then the retry schedule alone ends it", () =>
      Effect.gen(function* () {
        const { bus, state } = yield* failing({ publishTimeout: "Infinity" })
        const publishing = yield* Effect.forkChild(bus.publish(jobs, { n: 1 }))
        yield* TestClock.adjust("1 hour")
        expect(publishing.pollUnsafe()).toBeUndefined()
        state.faults = 0
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(publishing)).sequence).toBe(2)
      }))

    test("a publishTimeout that is no duration is refused with InvalidConfig naming it", () =>
      Effect.gen(function* () {
        const { transport } = yield* setup()
        for (const publishTimeout of ["soon", 0, -1, Number.NaN])
          expect(() => Bus.make(transport, { publishTimeout } as Bus.BusOptions), String(publishTimeout)).toThrow(
            expect.objectContaining({ _tag: "InvalidConfig", option: "publishTimeout" })
          )
      }))
  })
})

describe("Bus.consume", () => {
  test("acknowledges a message only after its handler succeeded", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const gated = yield* gatedHandler
      yield* bus.consume(jobs, { group: "g" }, gated.handler)
      yield* bus.publish(jobs, { n: 1 })
      yield* eventually("the handler to start", () => gated.started.length === 1)
      yield* settle
      expect(yield* bus.lag(jobs, "g")).toEqual({ pending: 0, inFlight: 1, missed: 0 })

      yield* gated.open(1)
      yield* nothingLeft(bus, jobs, "g")
      expect(gated.finished).toEqual([1])
    }))

  test("a handler that runs for many ack waits keeps its message: it is not delivered again while it runs", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const gated = yield* gatedHandler
      yield* bus.consume(jobs, { group: "g", ackWait: "30 seconds" }, gated.handler)
      yield* bus.publish(jobs, { n: 1 })
      yield* eventually("the handler to start", () => gated.started.length === 1)
      for (let second = 0; second < 120; second += 5) {
        yield* TestClock.adjust("5 seconds")
        yield* settle
      }
      expect(gated.started, "started once in two minutes, four ack waits").toEqual([1])
      expect(yield* bus.lag(jobs, "g")).toEqual({ pending: 0, inFlight: 1, missed: 0 })
      yield* gated.open(1)
      yield* nothingLeft(bus, jobs, "g")
      expect(gated.finished).toEqual([1])
    }))

  test("messages queued behind a long handler are kept too: none is delivered again while it waits", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const gated = yield* gatedHandler
      const attempts: Array<number> = []
      yield* bus.consume(jobs, { group: "g", ackWait: "30 seconds" }, (message) =>
        Effect.andThen(
          Effect.sync(() => attempts.push(message.attempt)),
          gated.handler(message)
        )
      )
      yield* bus.publishAll(jobs, [{ n: 1 }, { n: 2 }, { n: 3 }])
      yield* eventually("the first handler to start", () => gated.started.length === 1)
      for (let second = 0; second < 120; second += 5) {
        yield* TestClock.adjust("5 seconds")
        yield* settle
      }
      expect(gated.started, "two minutes later, the others still wait their turn").toEqual([1])
      for (const n of [1, 2, 3]) {
        yield* gated.open(n)
        yield* eventually(`message ${n} to finish`, () => gated.finished.includes(n))
      }
      expect(gated.started).toEqual([1, 2, 3])
      expect(attempts, "each handled once, on its first delivery").toEqual([1, 1, 1])
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("without the consumer marking it as worked on, the same handler's message would be delivered again", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const gated = yield* gatedHandler
      // A working interval longer than the ack wait: the broker redelivers before the consumer says anything.
      yield* bus.consume(
        jobs,
        { group: "g", ackWait: "30 seconds", workingInterval: "1 minute", concurrency: 2 },
        gated.handler
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* eventually("the handler to start", () => gated.started.length === 1)
      yield* TestClock.adjust("31 seconds")
      yield* eventually("the redelivery to start", () => gated.started.length === 2)
      expect(gated.started).toEqual([1, 1])
      yield* gated.open(1)
    }))

  test("with concurrency 1, handles messages one at a time in publish order", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const handled: Array<number> = []
      let running = 0
      let maxRunning = 0
      yield* bus.consume(jobs, { group: "g" }, (message) =>
        Effect.gen(function* () {
          running++
          maxRunning = Math.max(maxRunning, running)
          yield* Effect.sleep(`${20 - message.payload.n} millis`)
          handled.push(message.payload.n)
          running--
        })
      )
      yield* bus.publishAll(
        jobs,
        Array.from({ length: 20 }, (_, n) => ({ n }))
      )
      for (let i = 0; i < 40 && handled.length < 20; i++) {
        yield* TestClock.adjust("20 millis")
        yield* settle
      }
      expect(handled).toEqual(Array.from({ length: 20 }, (_, n) => n))
      expect(maxRunning).toBe(1)
    }))

  test("a failed handler's message is delivered again after the redelivery delay, as attempt 2", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const attempts: Array<{ attempt: number; at: number }> = []
      yield* bus.consume(jobs, { group: "g", redeliveryDelay: (attempt) => `${attempt * 5} seconds` }, (message) =>
        Effect.gen(function* () {
          attempts.push({ attempt: message.attempt, at: message.publishedAt.getTime() })
          if (message.attempt === 1) return yield* Effect.fail(new Error("not yet"))
        })
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* eventually("the first attempt", () => attempts.length === 1)
      yield* settle
      expect(yield* bus.lag(jobs, "g")).toMatchObject({ pending: 1, inFlight: 0 })

      yield* TestClock.adjust("4999 millis")
      yield* settle
      expect(attempts).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* eventually("the second attempt", () => attempts.length === 2)
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2])
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("by default, a failed message waits 1 second, then 2, then 4 before its next attempt", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const attempts: Array<number> = []
      yield* bus.consume(jobs, { group: "g", maxAttempts: 10 }, (message) =>
        Effect.andThen(
          Effect.sync(() => attempts.push(message.attempt)),
          message.attempt < 4 ? Effect.fail("again") : Effect.void
        )
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* eventually("the first attempt", () => attempts.length === 1)
      for (const [wait, expected] of [
        [999, 1],
        [1, 2],
        [1999, 2],
        [1, 3],
        [3999, 3],
        [1, 4]
      ] as const) {
        yield* TestClock.adjust(wait)
        yield* settle
        expect(attempts.length, `after another ${wait} ms`).toBe(expected)
      }
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("a handler that dies with a defect is delivered again, and the consumer goes on", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const handled: Array<[number, number]> = []
      yield* bus.consume(jobs, { group: "g", redeliveryDelay: () => "1 second" }, (message) =>
        Effect.sync(() => {
          if (message.payload.n === 1 && message.attempt === 1) throw new Error("bug in the handler")
          handled.push([message.payload.n, message.attempt])
        })
      )
      yield* bus.publishAll(jobs, [{ n: 1 }, { n: 2 }])
      yield* eventually("the second job", () => handled.length === 1)
      yield* TestClock.adjust("1 second")
      yield* eventually("the first job, again", () => handled.length === 2)
      expect(handled).toEqual([
        [2, 1],
        [1, 2]
      ])
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("a message whose deliveries keep ending without an outcome is dead-lettered after 5 of them, not handled again, not dropped", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      let runs = 0
      // Every delivery of the message hangs past its ack wait without a word to the broker, as a consumer
      // that crashes on it would (a working interval of an hour: the consumer never says it is working).
      yield* bus.consume(
        jobs,
        {
          group: "g",
          concurrency: 10,
          maxAttempts: 2,
          ackWait: "1 second",
          stopTimeout: 0,
          workingInterval: "1 hour"
        },
        () =>
          Effect.suspend(() => {
            runs++
            return Effect.never
          })
      )
      yield* bus.publish(jobs, { n: 1 })
      for (let second = 0; second < 10; second++) {
        yield* settle
        yield* TestClock.adjust("1 second")
      }
      yield* settle
      expect(runs, "the handler ran on every delivery but the last").toBe(5)
      const letters = yield* readAll(transport, jobs.deadLetter)
      expect(letters).toHaveLength(1)
      expect(letters[0]?.headers[DeadLetter.Headers.attempts], "no attempt failed: none ended").toBe("0")
      expect(letters[0]?.headers[DeadLetter.Headers.deliveries]).toBe("6")
      expect(letters[0]?.headers[DeadLetter.Headers.reason]).toBe(
        "5 deliveries ended without an outcome (a consumer crashed, or a handler overran its ack wait); it is not handled again"
      )
      expect(yield* bus.lag(jobs, "g")).toMatchObject({ pending: 0 })
    }))

  test("after maxAttempts failures, the message goes to the dead letter with the reason, and is acked", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      const attempts: Array<number> = []
      yield* bus.consume(jobs, { group: "billing", maxAttempts: 3, redeliveryDelay: () => "1 second" }, (message) =>
        Effect.andThen(
          Effect.sync(() => attempts.push(message.attempt)),
          Effect.fail(new Error("card declined by the issuer"))
        )
      )
      const headers = { "trace-id": "t-123", origin: "checkout" }
      const receipt = yield* bus.publish(jobs, { n: 7 }, { id: "job-7", key: "customer-9", headers })
      yield* eventually("the first attempt", () => attempts.length === 1)
      yield* TestClock.adjust("1 second")
      yield* eventually("the second attempt", () => attempts.length === 2)
      yield* TestClock.adjust("1 second")
      yield* eventually("the third attempt", () => attempts.length === 3)
      yield* nothingLeft(bus, jobs, "billing")

      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(attempts, "no delivery after the last allowed one").toEqual([1, 2, 3])

      const letters = yield* readAll(transport, jobs.deadLetter)
      expect(letters).toHaveLength(1)
      const [letter] = letters as [Transport.Delivery]
      expect(letter.topic).toBe("jobs.dead-letter")
      expect(letter.headers[DeadLetter.Headers.id]).toBe("job-7")
      expect(letter.key).toBe("customer-9")
      expect(text(letter.payload)).toBe(JSON.stringify({ n: 7 }))
      expect(letter.headers).toMatchObject(headers)
      expect(letter.headers[DeadLetter.Headers.reason]).toContain("card declined by the issuer")
      expect(letter.headers[DeadLetter.Headers.attempts]).toBe("3")
      expect(letter.headers[DeadLetter.Headers.topic]).toBe("jobs")
      expect(letter.headers[DeadLetter.Headers.sequence]).toBe(String(receipt.sequence))
      expect(letter.headers[DeadLetter.Headers.group]).toBe("billing")
    }))

  test("a dead letter's time follows the Effect clock, like publish times", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      yield* bus.consume(jobs, { group: "g", maxAttempts: 1 }, () => Effect.fail(new Error("no")))
      yield* TestClock.adjust("1 hour")
      yield* bus.publish(jobs, { n: 1 })
      yield* nothingLeft(bus, jobs, "g")
      const [letter] = yield* readAll(transport, jobs.deadLetter)
      expect(letter?.publishedAt).toBe(3_600_000)
      expect(letter?.headers[DeadLetter.Headers.at]).toBe(new Date(3_600_000).toISOString())
    }))

  test("each group that gives up on a message leaves its own dead letter", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      const failing = () => Effect.fail(new Error("cannot"))
      yield* bus.consume(jobs, { group: "billing", maxAttempts: 1 }, failing)
      yield* bus.consume(jobs, { group: "audit", maxAttempts: 1 }, failing)
      yield* bus.publish(jobs, { n: 1 })
      yield* nothingLeft(bus, jobs, "billing")
      yield* nothingLeft(bus, jobs, "audit")
      const letters = yield* readAll(transport, jobs.deadLetter)
      expect(letters.map((letter) => letter.headers[DeadLetter.Headers.group]).sort()).toEqual(["audit", "billing"])
    }))

  test("when a dead letter cannot be stored, the message stays with the broker and the log line says why", () =>
    Effect.gen(function* () {
      const { transport, bus } = yield* setup()
      // The dead-letter topic is full and refuses new messages.
      yield* transport.ensureTopic({ name: jobs.deadLetter, maxMessages: 1, discard: "new" })
      yield* transport.publish([{ topic: jobs.deadLetter, id: "filler", headers: {}, payload: encoder.encode("x") }])
      const lines: Array<string> = []
      yield* bus
        .consume(jobs, { group: "g", maxAttempts: 1 }, () => Effect.fail(new Error("always fails")))
        .pipe(Effect.provide(Logger.layer([Logger.make((entry) => lines.push(String(entry.message)))])))
      yield* bus.publish(jobs, { n: 1 }, { id: "job-1" })
      yield* eventually("the dead letter to be tried", () =>
        lines.some((line) => line.startsWith("cannot dead-letter"))
      )
      expect(lines.find((line) => line.startsWith("cannot dead-letter"))).toMatch(
        /^cannot dead-letter message job-1 of jobs \(TopicFull: topic "jobs\.dead-letter" is full.*\); it is handed back/
      )
      const lag = yield* bus.lag(jobs, "g")
      expect(lag.pending + lag.inFlight, "the message is still the group's").toBe(1)
    }))

  test("a message whose dead letter cannot be stored is not lost: it is dead-lettered once the broker accepts it", () =>
    Effect.gen(function* () {
      const { transport: inner } = yield* setup()
      const { transport, state } = faulty(inner, "request")
      const bus = Bus.make(transport)
      const attempts: Array<number> = []
      yield* bus.consume(jobs, { group: "g", maxAttempts: 2, redeliveryDelay: () => "1 second" }, (message) =>
        Effect.andThen(
          Effect.sync(() => attempts.push(message.attempt)),
          Effect.fail(new Error("always fails"))
        )
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* eventually("the first attempt", () => attempts.length === 1)
      state.faults = 1 // the broker is unreachable when the dead letter is published
      yield* TestClock.adjust("1 second")
      yield* eventually("the second attempt", () => attempts.length === 2)
      yield* eventually("the dead letter to be tried", () => state.faults === 0)
      // It comes back after the consumer's own redelivery delay, not the default one.
      yield* TestClock.adjust("999 millis")
      yield* settle
      expect(attempts).toHaveLength(2)
      yield* TestClock.adjust("1 millis")
      yield* eventually("the attempt after the failed dead letter", () => attempts.length === 3)

      yield* TestClock.adjust("5 minutes")
      yield* settle
      const letters = yield* readAll(inner, jobs.deadLetter)
      const lag = yield* bus.lag(jobs, "g")
      expect({ deadLetters: letters.length, stillInGroup: lag.pending + lag.inFlight }).toEqual({
        deadLetters: 1,
        stillInGroup: 0
      })
    }))

  test("when the first try to dead-letter fails, the dead letter still says why the handler failed", () =>
    Effect.gen(function* () {
      const { transport: inner } = yield* setup()
      const { transport, state } = faulty(inner, "request")
      const bus = Bus.make(transport)
      yield* bus.consume(jobs, { group: "g", maxAttempts: 1 }, () => Effect.fail(new Error("insufficient funds")))
      yield* bus.publish(jobs, { n: 1 })
      state.faults = 1
      yield* eventually("the dead letter to be tried", () => state.faults === 0)
      yield* TestClock.adjust("5 minutes")
      yield* nothingLeft(bus, jobs, "g")
      const [letter] = yield* readAll(inner, jobs.deadLetter)
      expect(letter?.headers[DeadLetter.Headers.reason]).toContain("insufficient funds")
    }))

  test("a payload that cannot be decoded goes to the dead letter at once, and the next message is handled", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      const handled: Array<number> = []
      yield* bus.consume(jobs, { group: "g", maxAttempts: 5 }, (message) =>
        Effect.sync(() => handled.push(message.payload.n))
      )
      yield* transport.publish([
        { topic: "jobs", id: "broken", headers: { origin: "legacy" }, payload: encoder.encode('{"n":') },
        { topic: "jobs", id: "wrong", headers: {}, payload: encoder.encode('{"n":"seven"}') },
        { topic: "jobs", id: "latin1", headers: {}, payload: new Uint8Array([0x7b, 0xff, 0x7d]) }
      ])
      yield* bus.publish(jobs, { n: 4 })
      yield* eventually("the good message to be handled", () => handled.length === 1)
      yield* nothingLeft(bus, jobs, "g")
      expect(handled).toEqual([4])

      const letters = yield* readAll(transport, jobs.deadLetter)
      expect(letters.map((letter) => letter.headers[DeadLetter.Headers.id])).toEqual(["broken", "wrong", "latin1"])
      for (const letter of letters) {
        expect(letter.headers[DeadLetter.Headers.attempts], "the handler never ran").toBe("0")
        expect(letter.headers[DeadLetter.Headers.deliveries]).toBe("1")
        expect(letter.headers[DeadLetter.Headers.reason]).toMatch(/decode/)
      }
      expect(letters[0]?.headers.origin).toBe("legacy")
      expect(text(letters[0]?.payload ?? new Uint8Array())).toBe('{"n":')
      expect(letters[1]?.headers[DeadLetter.Headers.reason]).toContain("n")
      expect([...(letters[2]?.payload ?? [])]).toEqual([0x7b, 0xff, 0x7d])
    }))

  test("runs at most `concurrency` handlers and holds at most `maxInFlight` unsettled messages while 500 flow", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      let running = 0
      let maxRunning = 0
      let maxInFlight = 0
      const handled = new Set<number>()
      const sample = Effect.map(bus.lag(jobs, "g"), (lag) => {
        maxInFlight = Math.max(maxInFlight, lag.inFlight)
      })
      yield* bus.consume(jobs, { group: "g", concurrency: 4, maxInFlight: 10 }, (message) =>
        Effect.gen(function* () {
          running++
          maxRunning = Math.max(maxRunning, running)
          yield* sample
          yield* Effect.sleep(`${1 + (message.payload.n % 7)} millis`)
          yield* sample
          running--
          handled.add(message.payload.n)
        })
      )
      yield* bus.publishAll(
        jobs,
        Array.from({ length: 500 }, (_, n) => ({ n }))
      )
      for (let i = 0; i < 5_000 && handled.size < 500; i++) {
        yield* TestClock.adjust("1 millis")
        yield* yieldMany(5)
        yield* sample
      }
      expect(handled.size).toBe(500)
      expect(maxRunning).toBe(4)
      expect(maxInFlight).toBeLessThanOrEqual(10)
      expect(maxInFlight, "the consumer pulls ahead of its handlers").toBeGreaterThan(4)
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("stop lets running handlers finish and acks them; messages not started wait for the next consumer", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const gated = yield* gatedHandler
      const consumer = yield* bus.consume(jobs, { group: "g", concurrency: 2, maxInFlight: 6 }, gated.handler)
      yield* bus.publishAll(
        jobs,
        Array.from({ length: 6 }, (_, n) => ({ n }))
      )
      yield* eventually("two handlers to run", () => gated.started.length === 2)
      yield* settle
      expect(yield* bus.lag(jobs, "g")).toMatchObject({ pending: 0, inFlight: 6 })

      const stopping = yield* Effect.forkChild(consumer.stop)
      yield* eventually("the unstarted messages to be handed back", lagIs(bus, jobs, "g", { pending: 4, inFlight: 2 }))
      expect(stopping.pollUnsafe(), "stop waits for the running handlers").toBeUndefined()
      yield* gated.open(0)
      yield* gated.open(1)
      yield* Fiber.join(stopping)
      expect(gated.finished).toEqual([0, 1])
      expect(gated.started, "nothing starts after stop").toEqual([0, 1])
      expect(yield* bus.lag(jobs, "g")).toMatchObject({ pending: 4, inFlight: 0 })
      expect(Exit.isSuccess(yield* Effect.exit(consumer.done))).toBe(true)

      const next: Array<number> = []
      yield* bus.consume(jobs, { group: "g" }, (message) => Effect.sync(() => next.push(message.payload.n)))
      yield* eventually("the next consumer to get the rest", () => next.length === 4)
      expect(next).toEqual([2, 3, 4, 5])
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("with maxAttempts 1, messages not started when the consumer stops still reach the next consumer", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const gated = yield* gatedHandler
      const consumer = yield* bus.consume(jobs, { group: "g", maxAttempts: 1 }, gated.handler)
      yield* bus.publishAll(jobs, [{ n: 0 }, { n: 1 }, { n: 2 }])
      yield* eventually("the first handler to run", () => gated.started.length === 1)
      const stopping = yield* Effect.forkChild(consumer.stop)
      yield* settle
      yield* gated.open(0)
      yield* Fiber.join(stopping)

      const next: Array<number> = []
      yield* bus.consume(jobs, { group: "g", maxAttempts: 1 }, (message) =>
        Effect.sync(() => next.push(message.payload.n))
      )
      // Let the consumer run before time moves: a jump past the ack wait would rightly redeliver.
      yield* settle
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(next).toEqual([1, 2])
    }))

  test("a handler still running at the stop timeout is interrupted, not acked, and delivered again", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      let interrupted = false
      // The first consumer lives in a scope of its own: what closing it after such a stop does is the next test.
      const scope = yield* Scope.make()
      const consumer = yield* bus
        .consume(jobs, { group: "g", stopTimeout: "5 seconds", ackWait: "10 seconds" }, (message) =>
          message.payload.n === 0
            ? Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (interrupted = true))))
            : Effect.void
        )
        .pipe(Scope.provide(scope))
      yield* bus.publishAll(jobs, [{ n: 0 }, { n: 1 }])
      yield* settle
      const stopping = yield* Effect.forkChild(consumer.stop)
      yield* eventually("the unstarted message to be handed back", lagIs(bus, jobs, "g", { pending: 1 }))
      yield* TestClock.adjust("4999 millis")
      yield* settle
      expect(stopping.pollUnsafe(), "stop waits up to its timeout").toBeUndefined()
      expect(interrupted).toBe(false)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(stopping)
      expect(interrupted).toBe(true)
      const lag = yield* bus.lag(jobs, "g")
      expect(lag.pending + lag.inFlight, "neither message was acked").toBe(2)
      expect(lag.inFlight, "the interrupted message is handed back at once, not after its ack wait").toBe(0)

      const next: Array<[number, number]> = []
      yield* bus.consume(jobs, { group: "g", ackWait: "10 seconds" }, (message) =>
        Effect.sync(() => next.push([message.payload.n, message.attempt]))
      )
      yield* TestClock.adjust("10 seconds")
      yield* eventually("both messages to reach the next consumer", () => next.length === 2)
      expect(next.map(([n]) => n).sort()).toEqual([0, 1])
      expect(next.find(([n]) => n === 0)?.[1], "an interrupted handler did not fail: the same attempt again").toBe(1)
      yield* nothingLeft(bus, jobs, "g")
      yield* Effect.exit(Scope.close(scope, Exit.void))
    }))

  test("after a stop that interrupted a handler, stopping again and closing the scope succeed", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            const consumer = yield* bus.consume(jobs, { group: "g", stopTimeout: "1 second" }, () => Effect.never)
            yield* bus.publish(jobs, { n: 0 })
            yield* settle
            const stopping = yield* Effect.forkChild(consumer.stop)
            yield* TestClock.adjust("1 second")
            yield* Fiber.join(stopping)
            expect(String(yield* Effect.exit(consumer.stop)), "a second stop").toBe(String(Exit.void))
            expect(String(yield* Effect.exit(consumer.done)), "done").toBe(String(Exit.void))
          })
        )
      )
      expect(String(exit), "closing the scope").toBe(String(Exit.void))
    }))

  test("closing the scope stops the consumer gracefully", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const gated = yield* gatedHandler
      const scoped = yield* Effect.forkChild(
        Effect.scoped(
          Effect.gen(function* () {
            yield* bus.consume(jobs, { group: "g", maxInFlight: 3 }, gated.handler)
            yield* bus.publishAll(jobs, [{ n: 0 }, { n: 1 }, { n: 2 }])
            yield* eventually("the first handler to run", () => gated.started.length === 1)
          })
        )
      )
      yield* eventually("the unstarted messages to be handed back", lagIs(bus, jobs, "g", { pending: 2, inFlight: 1 }))
      expect(scoped.pollUnsafe(), "closing waits for the running handler").toBeUndefined()
      yield* gated.open(0)
      yield* Fiber.join(scoped)
      expect(gated.finished).toEqual([0])
      expect(yield* bus.lag(jobs, "g")).toMatchObject({ pending: 2, inFlight: 0 })
      yield* bus.publish(jobs, { n: 3 })
      yield* settle
      expect(gated.started, "a closed consumer receives nothing").toEqual([0])
    }))

  test("a handler may nak a message itself: the Bus does not ack over it, and the nak is no failed attempt", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const deliveries: Array<[number, number]> = []
      yield* bus.consume(jobs, { group: "g" }, (message) =>
        Effect.gen(function* () {
          deliveries.push([message.deliveryCount, message.attempt])
          if (message.deliveryCount === 1) yield* message.nak("3 seconds")
        })
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* eventually("the first delivery", () => deliveries.length === 1)
      yield* settle
      expect(yield* bus.lag(jobs, "g")).toMatchObject({ pending: 1, inFlight: 0 })
      yield* TestClock.adjust("3 seconds")
      yield* eventually("the second delivery", () => deliveries.length === 2)
      expect(deliveries).toEqual([
        [1, 1],
        [2, 1]
      ])
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("a handler may term a message and fail: it is neither delivered again nor dead-lettered", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      const attempts: Array<number> = []
      yield* bus.consume(jobs, { group: "g", maxAttempts: 1 }, (message) =>
        Effect.gen(function* () {
          attempts.push(message.attempt)
          yield* message.term
          return yield* Effect.fail(new Error("poison"))
        })
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* nothingLeft(bus, jobs, "g")
      yield* TestClock.adjust("5 minutes")
      yield* settle
      expect(attempts).toEqual([1])
      expect(yield* readAll(transport, jobs.deadLetter)).toEqual([])
    }))

  test("a handler may ack a message and then fail: it is not delivered again", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const attempts: Array<number> = []
      yield* bus.consume(jobs, { group: "g", redeliveryDelay: () => "1 second" }, (message) =>
        Effect.gen(function* () {
          attempts.push(message.attempt)
          yield* message.ack
          return yield* Effect.fail(new Error("after the effect"))
        })
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* nothingLeft(bus, jobs, "g")
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(attempts).toEqual([1])
    }))

  test("a settlement the handler builds but never runs does not count: the Bus acks after success", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const attempts: Array<number> = []
      yield* bus.consume(jobs, { group: "g" }, (message) =>
        Effect.sync(() => {
          attempts.push(message.attempt)
          const { term } = message
          void term
          void message.nak("1 second")
        })
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* nothingLeft(bus, jobs, "g")
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(attempts).toEqual([1])
    }))

  test("consume fails with InvalidName for a group name that is not a single token", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      for (const group of ["billing.*", "billing.eu", "", "bill ing"]) {
        const exit = yield* Effect.exit(bus.consume(jobs, { group }, () => Effect.void))
        expect(Exit.isFailure(exit) ? Cause.squash(exit.cause) : "consume succeeded", group).toMatchObject({
          _tag: "InvalidName",
          kind: "group"
        })
      }
    }))

  test("consume has joined its group when it returns: a message published right after is handled", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      yield* bus.publish(jobs, { n: 0 })
      const handled: Array<number> = []
      yield* bus.consume(jobs, { group: "g", start: StartPosition.new }, (message) =>
        Effect.sync(() => handled.push(message.payload.n))
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* settle
      expect(handled).toEqual([1])
    }))

  test("a topic with the longest accepted name can be consumed", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const long = Topic.make({ name: `${"a".repeat(99)}.${"b".repeat(88)}`, schema: Job })
      const handled: Array<number> = []
      const started = yield* Effect.exit(
        bus.consume(long, { group: "g" }, (message) => Effect.sync(() => handled.push(message.payload.n)))
      )
      expect(Exit.isSuccess(started) ? "started" : String(started)).toBe("started")
      yield* bus.publish(long, { n: 1 })
      yield* eventually("the message to be handled", () => handled.length === 1)
    }))
})

describe("Bus.consume: handlerTimeout", () => {
  test("an Effect handler still running at handlerTimeout is interrupted, and its message comes back as attempt 2", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const interrupted: Array<number> = []
      const handled: Array<number> = []
      yield* bus.consume(jobs, { group: "g", handlerTimeout: "10 seconds" }, (message) =>
        message.attempt === 1
          ? Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted.push(message.attempt)))
          : Effect.sync(() => handled.push(message.attempt))
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* settle
      yield* TestClock.adjust("9 seconds")
      yield* settle
      expect(interrupted, "before the timeout").toEqual([])
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(interrupted, "at the timeout").toEqual([1])
      yield* TestClock.adjust("1 second")
      yield* eventually("the second attempt to be handled", () => handled.length === 1)
      expect(handled).toEqual([2])
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("a handler that times out on its last attempt is dead-lettered with HandlerTimeout as the reason", () =>
    Effect.gen(function* () {
      const { transport, bus } = yield* setup()
      yield* bus.consume(jobs, { group: "g", maxAttempts: 1, handlerTimeout: "1 minute" }, () => Effect.never)
      yield* bus.publish(jobs, { n: 1 })
      yield* settle
      yield* TestClock.adjust("61 seconds")
      yield* nothingLeft(bus, jobs, "g")
      const [letter] = yield* readAll(transport, jobs.deadLetter)
      expect(letter?.headers[DeadLetter.Headers.reason]).toBe(
        'handler failed 1 times: HandlerTimeout: a handler of topic "jobs" did not finish within 1m'
      )
    }))

  test("after a handler timed out, the consumer goes on with the next messages at its concurrency", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const handled: Array<number> = []
      yield* bus.consume(jobs, { group: "g", concurrency: 1, handlerTimeout: "10 seconds" }, (message) =>
        message.payload.n === 0 && message.attempt === 1
          ? Effect.never
          : Effect.sync(() => handled.push(message.payload.n))
      )
      yield* bus.publishAll(jobs, [{ n: 0 }, { n: 1 }, { n: 2 }])
      yield* settle
      expect(handled, "behind the stuck handler").toEqual([])
      // Found within a tenth of the timeout; its next attempt waits for the first redelivery delay (1 s).
      yield* TestClock.adjust("10500 millis")
      yield* eventually("the messages behind it to be handled", () => handled.length === 2)
      expect(handled).toEqual([1, 2])
      yield* TestClock.adjust("1 second")
      yield* eventually("the timed-out message to be handled on its second attempt", () => handled.length === 3)
      yield* nothingLeft(bus, jobs, "g")
    }))
})

describe("Bus.consume and Bus.subscribe validate every option", () => {
  const consumeCases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["concurrency", 0, "0"],
    ["concurrency", -1, "-1"],
    ["concurrency", Number.NaN, "NaN"],
    ["concurrency", 1.5, "1.5"],
    ["maxAttempts", 0, "0"],
    ["stopTimeout", -5, "-5"],
    ["handlerTimeout", "soon", '"soon"'],
    ["workingInterval", 0, "0"],
    ["redeliveryDelay", 1000, "1000"],
    ["ackWait", "soon", '"soon"'],
    ["maxInFlight", 0, "0"],
    ["backoff", [], "an array"],
    ["backoff", ["1 second", "later"], '"later"'],
    ["start", { _tag: "Sequence", sequence: 0 }, "0"],
    ["dispatch", "pool", '"pool"']
  ]
  for (const [option, value, shown] of consumeCases)
    test(`consume fails with InvalidConfig for ${option}: ${shown}, and starts nothing`, () =>
      Effect.gen(function* () {
        const { bus } = yield* setup()
        const exit = yield* Effect.exit(bus.consume(jobs, { group: "g", [option]: value }, () => Effect.void))
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : "consume succeeded"
        expect(error).toMatchObject({ _tag: "InvalidConfig" })
        expect((error as Error).message).toContain(option)
        expect((error as Error).message).toContain(` must be `)
        expect((error as Error).message).toContain(`not ${shown}`)
        expect(yield* Effect.exit(bus.topicInfo(jobs)), "not even the topic was created").toMatchObject({
          _tag: "Failure"
        })
      }))

  for (const [option, value, shown] of [
    ["maxInFlight", 0, "0"],
    ["ackWait", "soon", '"soon"']
  ] as const)
    test(`subscribe fails with InvalidConfig for ${option}: ${shown}`, () =>
      Effect.gen(function* () {
        const { bus } = yield* setup()
        const exit = yield* Effect.exit(Effect.scoped(bus.subscribe(jobs, { group: "g", [option]: value })))
        expect(Exit.isFailure(exit) ? Cause.squash(exit.cause) : "subscribed").toMatchObject({
          _tag: "InvalidConfig",
          option
        })
      }))
})

describe("Bus.subscribe", () => {
  test("emits decoded messages to settle yourself and dead-letters undecodable ones", () =>
    Effect.gen(function* () {
      const { bus, transport } = yield* setup()
      const emitted: Array<Message.Message<Job>> = []
      const messages = yield* bus.subscribe(jobs, { group: "audit" })
      yield* messages.pipe(
        Stream.runForEach((message) => Effect.sync(() => emitted.push(message))),
        Effect.forkScoped
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* transport.publish([{ topic: "jobs", id: "junk", headers: {}, payload: encoder.encode("junk") }])
      yield* bus.publish(jobs, { n: 2 })
      yield* eventually("both good messages", () => emitted.length === 2)
      yield* settle
      expect(emitted.map((m) => m.payload)).toEqual([{ n: 1 }, { n: 2 }])
      // Emitted messages are not acked for you; the undecodable one was settled by the dead letter.
      expect(yield* bus.lag(jobs, "audit")).toMatchObject({ pending: 0, inFlight: 2 })
      yield* Effect.forEach(emitted, (message) => message.ack)
      yield* nothingLeft(bus, jobs, "audit")
      const letters = yield* readAll(transport, jobs.deadLetter)
      expect(letters.map((letter) => letter.headers[DeadLetter.Headers.id])).toEqual(["junk"])
      expect(letters[0]?.headers[DeadLetter.Headers.group]).toBe("audit")
    }))

  test("an unsettled message is delivered again after its ack wait", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const emitted: Array<Message.Message<Job>> = []
      const messages = yield* bus.subscribe(jobs, { group: "audit", ackWait: "10 seconds" })
      yield* messages.pipe(
        Stream.runForEach((message) => Effect.sync(() => emitted.push(message))),
        Effect.forkScoped
      )
      yield* bus.publish(jobs, { n: 1 })
      yield* eventually("the message", () => emitted.length === 1)
      yield* TestClock.adjust("9999 millis")
      yield* settle
      expect(emitted).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* eventually("the redelivery", () => emitted.length === 2)
      expect(emitted.map((m) => m.deliveryCount)).toEqual([1, 2])
      expect(
        emitted.map((m) => m.attempt),
        "an abandoned delivery is no failed attempt"
      ).toEqual([1, 1])
      yield* (emitted[1] as Message.Message<Job>).ack
      yield* nothingLeft(bus, jobs, "audit")
    }))

  test("a broadcast subscription exists when subscribe returns: a message published right after reaches it", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      yield* bus.publish(jobs, { n: 0 })
      const messages = yield* bus.subscribe(jobs)
      yield* bus.publish(jobs, { n: 1 })
      const [message] = yield* messages.pipe(Stream.take(1), Stream.runCollect)
      expect(message?.payload, "from now on, not the message before").toEqual({ n: 1 })
    }))

  test("closing the scope completes the stream and hands back at once every message it emitted and nobody settled", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      yield* bus.publishAll(
        jobs,
        Array.from({ length: 5 }, (_, n) => ({ n }))
      )
      const scope = yield* Scope.make()
      const messages = yield* bus.subscribe(jobs, { group: "audit", ackWait: "1 hour" }).pipe(Scope.provide(scope))
      const emitted: Array<Message.Message<Job>> = []
      const reading = yield* messages.pipe(
        Stream.runForEach((message) => Effect.sync(() => emitted.push(message))),
        Effect.forkChild
      )
      yield* eventually("five messages", () => emitted.length === 5)
      yield* (emitted[0] as Message.Message<Job>).ack
      yield* Scope.close(scope, Exit.void)
      expect(yield* Fiber.join(reading), "the stream completed").toBeUndefined()
      // No ack wait passes: the four unsettled ones are back in the broker at once, and delivered again.
      expect(yield* bus.lag(jobs, "audit")).toMatchObject({ pending: 4, inFlight: 0 })
      const again = yield* bus.subscribe(jobs, { group: "audit" })
      const redelivered = yield* again.pipe(Stream.take(4), Stream.runCollect)
      expect(redelivered.map((message) => message.payload.n)).toEqual([1, 2, 3, 4])
    }))

  test("a reader that stops early (Stream.take) strands nothing: when the scope closes, the rest goes back at once", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      yield* bus.publishAll(
        jobs,
        Array.from({ length: 5 }, (_, n) => ({ n }))
      )
      const firstTwo = yield* Effect.scoped(
        Effect.gen(function* () {
          const messages = yield* bus.subscribe(jobs, { group: "audit", ackWait: "1 hour" })
          return yield* messages.pipe(
            Stream.tap((message) => message.ack),
            Stream.take(2),
            Stream.runCollect
          )
        })
      )
      expect(firstTwo.map((message) => message.payload.n)).toEqual([0, 1])
      expect(yield* bus.lag(jobs, "audit")).toMatchObject({ pending: 3, inFlight: 0 })
    }))
})
