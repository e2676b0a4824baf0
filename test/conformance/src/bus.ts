/**
 * Bus behaviour that rests on the transport: undecodable payloads go to the
 * dead letter while the consumer goes on, and a consumer stops gracefully
 * with work in flight.
 */
import { describe, expect } from "@effect/vitest"
import { Bus, DeadLetter, type Message, Topic, type Transport } from "@sluice/core"
import { Deferred, Effect, Exit, Fiber, Schema, Scope, Stream } from "effect"
import { ackEach, type Harness, subscribe, text, uniqueGroup, uniqueTopic, waits } from "./harness.ts"

const Job = Schema.Struct({ n: Schema.Number })
type Job = typeof Job.Type

const encoder = new TextEncoder()

/** Raw records that no `Job` decodes: broken JSON, and JSON of the wrong shape. */
const undecodable = (topic: string) => [
  { topic, id: `broken-${topic}`, headers: { "x-origin": "raw" }, payload: encoder.encode('{"n": 1,') },
  { topic, id: `wrong-${topic}`, headers: { "x-origin": "raw" }, payload: encoder.encode('{"n":"one"}') }
]

export const busTests = (h: Harness) => {
  const { receivedAtLeast } = waits(h)

  /** Reads the dead letters of `topic` straight from the transport. */
  const deadLetters = (transport: Transport.Transport, topic: string, count: number) =>
    Effect.gen(function* () {
      const letters = Topic.deadLetterOf(topic)
      const subscriber = yield* subscribe(transport, { topic: letters, group: uniqueGroup("dl") }, ackEach)
      yield* receivedAtLeast(subscriber, count)
      yield* h.settle
      return subscriber.received
    })

  const expectDeadLettered = (letters: ReadonlyArray<Transport.Delivery>, topic: string) => {
    const sent = undecodable(topic)
    expect(letters.map((d) => d.headers[DeadLetter.Headers.id])).toEqual(sent.map((r) => r.id))
    letters.forEach((letter, i) => {
      expect(letter.topic).toBe(Topic.deadLetterOf(topic))
      expect(text(letter.payload)).toBe(text(sent[i]?.payload ?? new Uint8Array()))
      expect(letter.headers).toMatchObject({ "x-origin": "raw" })
      expect(letter.headers[DeadLetter.Headers.reason]).toEqual(expect.stringMatching(/\S/))
    })
  }

  describe("bus", () => {
    h.test(
      "a consumed payload that cannot be decoded goes to the dead letter with its bytes and a reason, and the consumer goes on",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          const topic = Topic.make({ name: uniqueTopic("bus-decode"), schema: Job })
          const group = uniqueGroup()
          const handled: Array<Job> = []
          yield* bus.consume(topic, { group, ackWait: "1 second" }, (message) =>
            Effect.sync(() => handled.push(message.payload))
          )
          yield* bus.publish(topic, { n: 1 })
          yield* transport.publish(undecodable(topic.name))
          yield* bus.publish(topic, { n: 2 })
          yield* h.eventually("both good messages to be handled", () => handled.length >= 2)
          expect(handled).toEqual([{ n: 1 }, { n: 2 }])

          expectDeadLettered(yield* deadLetters(transport, topic.name, 2), topic.name)
          // The undecodable messages were acked on their topic: nothing is left to redeliver.
          yield* h.eventually(
            "the consumer's group to have settled everything",
            Effect.map(bus.lag(topic, group), (lag) => lag.pending === 0 && lag.inFlight === 0)
          )
          yield* h.advance("1500 millis")
          yield* h.settle
          expect(handled).toEqual([{ n: 1 }, { n: 2 }])
        })
    )

    h.test("a subscribed stream never emits an undecodable payload: it goes to the dead letter and is acked", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const bus = Bus.make(transport)
        const topic = Topic.make({ name: uniqueTopic("bus-subscribe-decode"), schema: Job })
        const group = uniqueGroup()
        const emitted: Array<Message.Message<Job>> = []
        yield* Stream.unwrap(bus.subscribe(topic, { group })).pipe(
          Stream.runForEach((message) =>
            Effect.andThen(
              message.ack,
              Effect.sync(() => emitted.push(message))
            )
          ),
          Effect.forkScoped
        )
        yield* h.eventually(
          "the topic to be created by the subscription",
          transport.topicInfo(topic.name).pipe(
            Effect.as(true),
            Effect.catch(() => Effect.succeed(false))
          )
        )
        yield* transport.publish(undecodable(topic.name))
        yield* bus.publish(topic, { n: 3 })
        yield* h.eventually("the good message to be emitted", () => emitted.length >= 1)
        expectDeadLettered(yield* deadLetters(transport, topic.name, 2), topic.name)
        yield* h.eventually(
          "the group to have settled everything",
          Effect.map(bus.lag(topic, group), (lag) => lag.pending === 0 && lag.inFlight === 0)
        )
        expect(emitted.map((m) => m.payload)).toEqual([{ n: 3 }])
      })
    )

    h.test(
      "a broadcast subscription exists when subscribe returns: every message published right after reaches it",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          const topic = Topic.make({ name: uniqueTopic("bus-broadcast-ready"), schema: Job })
          yield* bus.publish(topic, { n: -1 })
          const messages = yield* bus.subscribe(topic)
          yield* bus.publishAll(
            topic,
            Array.from({ length: 10 }, (_, n) => ({ n }))
          )
          const received = yield* messages.pipe(
            Stream.take(10),
            Stream.runCollect,
            Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.succeed([]) })
          )
          expect(received.map((message) => message.payload.n)).toEqual(Array.from({ length: 10 }, (_, n) => n))
        })
    )

    h.test(
      "closing a subscription completes its stream and hands back what it took and nobody settled, without an ack wait",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          const topic = Topic.make({ name: uniqueTopic("bus-subscribe-close"), schema: Job })
          const group = uniqueGroup()
          yield* bus.publishAll(
            topic,
            Array.from({ length: 6 }, (_, n) => ({ n }))
          )
          const scope = yield* Scope.make()
          const messages = yield* bus.subscribe(topic, { group, ackWait: "1 hour" }).pipe(Scope.provide(scope))
          const emitted: Array<Message.Message<Job>> = []
          const reading = yield* messages.pipe(
            Stream.runForEach((message) => Effect.sync(() => emitted.push(message))),
            Effect.forkChild
          )
          yield* h.eventually("six messages", () => emitted.length === 6)
          yield* Effect.forEach(emitted.slice(0, 2), (message) => message.ack, { discard: true })
          yield* Scope.close(scope, Exit.void)
          expect(yield* Fiber.join(reading), "the stream completed").toBeUndefined()
          // Far sooner than the ack wait of an hour, the four unsettled messages are back and delivered again.
          const next: Array<number> = []
          const again = yield* bus.subscribe(topic, { group })
          yield* again.pipe(
            Stream.runForEach((message) =>
              Effect.andThen(
                message.ack,
                Effect.sync(() => next.push(message.payload.n))
              )
            ),
            Effect.forkScoped
          )
          yield* h.eventually("the four unsettled messages to be delivered again", () => next.length >= 4)
          expect([...next].sort((a, b) => a - b)).toEqual([2, 3, 4, 5])
        })
    )

    h.test(
      "twenty graceful restarts while 1,000 messages wait dead-letter nothing whose handler never failed; the one that always fails is dead-lettered after exactly maxAttempts failures",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          const topic = Topic.make({ name: uniqueTopic("bus-restarts"), schema: Job })
          const group = uniqueGroup()
          const count = 1000
          const poison = 7
          yield* bus.publishAll(
            topic,
            Array.from({ length: count }, (_, n) => ({ n }))
          )
          const failedOnce = new Set<number>()
          const handled = new Set<number>()
          // Every hundredth message fails once (a transient failure); message 7 fails every time.
          const handler = (message: Message.Message<Job>) =>
            Effect.suspend(() => {
              const { n } = message.payload
              if (n === poison) return Effect.fail(new Error("always fails"))
              if (n % 100 === 0 && !failedOnce.has(n)) {
                failedOnce.add(n)
                return Effect.fail(new Error("fails once"))
              }
              // Slow enough that each round stops with messages it holds not started: they are handed back.
              return Effect.andThen(
                Effect.sleep("1 millis"),
                Effect.sync(() => void handled.add(n))
              )
            })
          const options = {
            group,
            concurrency: 4,
            maxInFlight: 100,
            maxAttempts: 2,
            redeliveryDelay: () => 10
          } as const
          for (let round = 1; round <= 20; round++) {
            const scope = yield* Scope.make()
            const before = handled.size
            yield* bus.consume(topic, options, handler).pipe(Scope.provide(scope))
            yield* h.eventually(
              `round ${round} to handle 20 more`,
              () => handled.size >= Math.min(before + 20, count - 1)
            )
            // Stopping waits for the running handlers, whose sleep needs (virtual) time to pass.
            const stopping = yield* Effect.forkChild(Scope.close(scope, Exit.void))
            yield* h.eventually(`round ${round} to stop`, () => stopping.pollUnsafe() !== undefined)
          }
          yield* bus.consume(topic, options, handler)
          yield* h.eventually(
            "every message but the poison to be handled",
            () => handled.size === count - 1,
            "60 seconds"
          )
          const letters = yield* Stream.unwrap(
            bus.subscribe(DeadLetter.topicOf(topic), { group: uniqueGroup("dl") })
          ).pipe(Stream.map(DeadLetter.read), Stream.take(1), Stream.runCollect)
          expect(letters.map((letter) => [letter?.id, letter?.attempts, letter?.reason])).toEqual([
            [expect.any(String), 2, "handler failed 2 times: Error: always fails"]
          ])
          yield* h.settle
          expect((yield* transport.topicInfo(topic.deadLetter)).messages, "nothing else was dead-lettered").toBe(1)
        }),
      120_000
    )

    h.test("a handler that overruns handlerTimeout is interrupted and its message comes back as the next attempt", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const bus = Bus.make(transport)
        const topic = Topic.make({ name: uniqueTopic("bus-handler-timeout"), schema: Job })
        const group = uniqueGroup()
        const interrupted: Array<number> = []
        const handled: Array<number> = []
        yield* bus.consume(
          topic,
          { group, handlerTimeout: "1 second", redeliveryDelay: () => 100, ackWait: "5 seconds" },
          (message) =>
            message.attempt === 1
              ? Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted.push(message.attempt)))
              : Effect.sync(() => handled.push(message.attempt))
        )
        yield* bus.publish(topic, { n: 1 })
        yield* h.eventually("the second attempt", () => handled.length === 1)
        expect(interrupted).toEqual([1])
        expect(handled).toEqual([2])
        yield* h.eventually(
          "the message to be acknowledged",
          Effect.map(bus.lag(topic, group), (lag) => lag.pending === 0 && lag.inFlight === 0)
        )
      })
    )

    h.test(
      "stopping a consumer lets running handlers finish and acks them, and leaves every other message for the next consumer",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          const topic = Topic.make({ name: uniqueTopic("bus-stop"), schema: Job })
          const group = uniqueGroup()
          const gated = yield* gatedHandler
          const consumer = yield* bus.consume(topic, { group, concurrency: 3, ackWait: "2 seconds" }, gated.handler)
          yield* bus.publishAll(
            topic,
            Array.from({ length: 10 }, (_, n) => ({ n }))
          )
          yield* h.eventually("three handlers to be running", () => gated.started.length >= 3)
          yield* h.settle
          const running = [...gated.started]
          expect(running).toHaveLength(3)

          const stopping = yield* Effect.forkChild(consumer.stop)
          yield* h.settle
          expect(stopping.pollUnsafe(), "stop waits for the running handlers").toBeUndefined()
          yield* Effect.forEach(running, gated.open, { discard: true })
          yield* h.eventually("the consumer to stop", () => stopping.pollUnsafe() !== undefined)
          expect(String(yield* Fiber.await(stopping))).toBe(String(Exit.void))
          expect(gated.started, "no handler starts once stop was called").toEqual(running)
          expect([...gated.finished].sort()).toEqual([...running].sort())

          // The next consumer gets every message that was not finished, and none that was.
          const next: Array<number> = []
          yield* bus.consume(topic, { group, concurrency: 3, ackWait: "2 seconds" }, (message) =>
            Effect.sync(() => next.push(message.payload.n))
          )
          const expected = Array.from({ length: 10 }, (_, n) => n).filter((n) => !running.includes(n))
          yield* h.eventually("the seven unfinished messages to reach the next consumer", () => new Set(next).size >= 7)
          yield* h.advance("2500 millis")
          yield* h.settle
          expect([...next].sort((a, b) => a - b)).toEqual(expected)
          expect(yield* Effect.exit(consumer.done), "done after a graceful stop").toEqual(Exit.void)
        })
    )

    h.test(
      "a handler still running at the stop timeout is interrupted, not acked, and delivered again to the next consumer",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          const topic = Topic.make({ name: uniqueTopic("bus-stop-timeout"), schema: Job })
          const group = uniqueGroup()
          const gated = yield* gatedHandler
          const consumer = yield* bus.consume(
            topic,
            { group, concurrency: 2, ackWait: "2 seconds", stopTimeout: "1 second" },
            gated.handler
          )
          yield* bus.publishAll(
            topic,
            Array.from({ length: 4 }, (_, n) => ({ n }))
          )
          yield* h.eventually("two handlers to be running", () => gated.started.length >= 2)
          yield* h.settle
          const [finishing, stuck] = gated.started as [number, number]

          const stopping = yield* Effect.forkChild(consumer.stop)
          yield* h.settle
          yield* gated.open(finishing)
          yield* h.advance("1500 millis")
          yield* h.eventually("the consumer to stop", () => stopping.pollUnsafe() !== undefined)
          expect(String(yield* Fiber.await(stopping))).toBe(String(Exit.void))
          expect(gated.finished).toEqual([finishing])

          const next: Array<number> = []
          yield* bus.consume(topic, { group, ackWait: "2 seconds" }, (message) =>
            Effect.sync(() => next.push(message.payload.n))
          )
          yield* h.eventually("the three unfinished messages to reach the next consumer", () => new Set(next).size >= 3)
          yield* h.advance("2500 millis")
          yield* h.settle
          expect([...next].sort((a, b) => a - b)).toEqual([0, 1, 2, 3].filter((n) => n !== finishing))
          expect(next).toContain(stuck)
          // Stop is idempotent, and the stopped consumer is done without error.
          expect(String(yield* Effect.exit(consumer.stop)), "a second stop").toBe(String(Exit.void))
          expect(String(yield* Effect.exit(consumer.done)), "done after a stop that interrupted a handler").toBe(
            String(Exit.void)
          )
        })
    )
  })
}

/** A handler that records each message it starts, then waits until the test opens that message's gate. */
const gatedHandler = Effect.sync(() => {
  const gates = new Map<number, Deferred.Deferred<void>>()
  const gate = (n: number) => {
    const existing = gates.get(n)
    if (existing !== undefined) return existing
    const made = Deferred.makeUnsafe<void>()
    gates.set(n, made)
    return made
  }
  const started: Array<number> = []
  const finished: Array<number> = []
  return {
    started,
    finished,
    open: (n: number) => Effect.asVoid(Deferred.succeed(gate(n), undefined)),
    handler: (message: Message.Message<Job>) =>
      Effect.gen(function* () {
        started.push(message.payload.n)
        yield* Deferred.await(gate(message.payload.n))
        finished.push(message.payload.n)
      })
  }
})
