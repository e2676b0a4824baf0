/**
 * Consumer groups: several groups each get everything, members of one group
 * compete, start positions of a new group, a group's position across
 * subscriptions, closing many subscriptions at once, and lag.
 */
import { describe, expect } from "@effect/vitest"
import { StartPosition, type Transport } from "@sluice/core"
import { Clock, Effect, Exit, Scope, Stream } from "effect"
import {
  ackEach,
  bodies,
  type Harness,
  record,
  records,
  sequences,
  subscribe,
  uniqueGroup,
  uniqueTopic,
  waits
} from "./harness.ts"

export const groupTests = (h: Harness) => {
  const { receivedAtLeast, receivedSuch, groupExists } = waits(h)

  describe("consumer groups", () => {
    h.test("each of several groups receives every message", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("groups")
        yield* transport.ensureTopic({ name: topic })
        const subscribers = yield* Effect.forEach(Array.from({ length: 4 }), () =>
          subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        )
        yield* transport.publish(records(topic, 50))
        yield* Effect.forEach(subscribers, (s) => receivedAtLeast(s, 50), { discard: true })
        yield* h.settle
        const expected = Array.from({ length: 50 }, (_, i) => `m-${i}`)
        for (const s of subscribers) expect(bodies(s.received)).toEqual(expected)
      })
    )

    h.test("members of one group compete: a message held by one member goes to no other, and does not stop them", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("compete")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        // The first member takes one message and holds it.
        const holder = yield* subscribe(transport, { topic, group, maxInFlight: 1 })
        yield* transport.publish([record(topic, "held")])
        yield* receivedAtLeast(holder, 1)
        const other = yield* subscribe(transport, { topic, group }, ackEach)
        yield* groupExists(transport, topic, group)
        yield* transport.publish(records(topic, 10))
        yield* receivedAtLeast(other, 10)
        yield* h.settle
        expect(bodies(holder.received)).toEqual(["held"])
        expect(bodies(other.received)).toEqual(Array.from({ length: 10 }, (_, i) => `m-${i}`))
        expect(yield* h.lag(transport, topic, group)).toEqual({ pending: 0, inFlight: 1, missed: 0 })
      })
    )

    h.test("a group created with start All receives messages published before it existed", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("start-all")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 5, "old"))
        const subscriber = yield* subscribe(
          transport,
          { topic, group: uniqueGroup(), start: StartPosition.all },
          ackEach
        )
        yield* receivedAtLeast(subscriber, 5)
        yield* transport.publish(records(topic, 2, "new"))
        yield* receivedAtLeast(subscriber, 7)
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["old-0", "old-1", "old-2", "old-3", "old-4", "new-0", "new-1"])
      })
    )

    h.test("a group created without a start position starts with every message the topic holds", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("start-default")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 3, "old"))
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 3)
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["old-0", "old-1", "old-2"])
      })
    )

    h.test("a group created with start Sequence receives from that sequence on", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("start-sequence")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 6))
        const subscriber = yield* subscribe(
          transport,
          { topic, group: uniqueGroup(), start: StartPosition.sequence(4) },
          ackEach
        )
        yield* receivedAtLeast(subscriber, 3)
        yield* h.settle
        expect(sequences(subscriber.received)).toEqual([4, 5, 6])
        expect(bodies(subscriber.received)).toEqual(["m-3", "m-4", "m-5"])
      })
    )

    h.test("a group created with start Time receives the messages published from that time on", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("start-time")
        yield* transport.ensureTopic({ name: topic })
        yield* h.advance("100 millis")
        yield* transport.publish(records(topic, 3, "before"))
        yield* h.advance("300 millis")
        const from = yield* Clock.currentTimeMillis
        yield* h.advance("300 millis")
        yield* transport.publish(records(topic, 3, "after"))
        const subscriber = yield* subscribe(
          transport,
          { topic, group: uniqueGroup(), start: StartPosition.time(from) },
          ackEach
        )
        yield* receivedAtLeast(subscriber, 3)
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["after-0", "after-1", "after-2"])
        for (const d of subscriber.received) expect(d.publishedAt).toBeGreaterThanOrEqual(from)
      })
    )

    h.test("a group created with start New receives only messages published after it was created", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("start-new")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 4, "old"))
        const subscriber = yield* subscribe(transport, { topic, group, start: StartPosition.new }, ackEach)
        yield* groupExists(transport, topic, group)
        yield* transport.publish(records(topic, 3, "new"))
        yield* receivedAtLeast(subscriber, 3)
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["new-0", "new-1", "new-2"])
      })
    )

    h.test("a reopened group subscription continues where the group left off, and ignores its start position", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("reopen")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 20))
        const first = yield* subscribe(transport, { topic, group, maxInFlight: 1, ackWait: "1 second" }, ackEach)
        yield* receivedAtLeast(first, 8)
        yield* first.close
        const acked = new Set(bodies(first.received))
        yield* transport.publish(records(topic, 5, "later"))

        // Asking for All again changes nothing: the group exists and keeps its position.
        const second = yield* subscribe(
          transport,
          { topic, group, start: StartPosition.all, ackWait: "1 second" },
          ackEach
        )
        const expected = [
          ...Array.from({ length: 20 }, (_, i) => `m-${i}`),
          ...Array.from({ length: 5 }, (_, i) => `later-${i}`)
        ]
        yield* receivedSuch(second, "every message the first subscription did not ack", (received) => {
          const got = new Set([...acked, ...bodies(received)])
          return expected.every((b) => got.has(b))
        })
        yield* h.settle
        // Nothing the first subscription acked comes back.
        for (const body of bodies(second.received)) expect(acked.has(body)).toBe(false)
        expect(new Set([...acked, ...bodies(second.received)])).toEqual(new Set(expected))
      })
    )

    h.test("a delivery can still be acked after its subscription closed, and is then not delivered again", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("ack-after-close")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "only")])
        const first = yield* subscribe(transport, { topic, group, ackWait: "1 second" })
        yield* receivedAtLeast(first, 1)
        yield* first.close
        yield* (first.received[0] as Transport.Delivery).ack
        const second = yield* subscribe(transport, { topic, group, ackWait: "1 second" }, ackEach)
        yield* h.advance("1500 millis")
        yield* h.settle
        expect(second.received).toEqual([])
        expect(yield* h.lag(transport, topic, group)).toEqual({ pending: 0, inFlight: 0, missed: 0 })
      })
    )

    h.test("closing a subscription's scope completes its stream, also while the stream waits for messages", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("scope-ends")
        yield* transport.ensureTopic({ name: topic })
        const subscription = yield* Scope.make()
        const deliveries = yield* transport.subscribe({ topic, group: uniqueGroup() }).pipe(Scope.provide(subscription))
        // Read in a fiber of the test's scope, which outlives the subscription's.
        const received: Array<Transport.Delivery> = []
        const reader = yield* Effect.forkScoped(
          Stream.runForEach(deliveries, (delivery) => Effect.sync(() => received.push(delivery)))
        )
        yield* transport.publish(records(topic, 3))
        yield* h.eventually(
          "the 3 messages to arrive",
          Effect.sync(() => received.length === 3)
        )
        yield* Scope.close(subscription, Exit.void)
        yield* h.eventually(
          "the stream to complete",
          Effect.sync(() => reader.pollUnsafe() !== undefined)
        )
        expect(reader.pollUnsafe()).toEqual(Exit.void)
        expect(bodies(received)).toEqual(["m-0", "m-1", "m-2"])
      })
    )

    h.test("closing many subscriptions at once loses nothing: what they held goes to the next member", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("concurrent-close")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        // Twenty members that each take up to three messages and settle none; some broadcast subscribers too.
        const members = yield* Effect.forEach(Array.from({ length: 20 }), () =>
          subscribe(transport, { topic, group, maxInFlight: 3, ackWait: "1 second" })
        )
        const broadcasts = yield* Effect.forEach(Array.from({ length: 5 }), () => subscribe(transport, { topic }))
        yield* groupExists(transport, topic, group)
        yield* transport.publish(records(topic, 100))
        yield* h.eventually("the members to hold 60 messages", () => members.every((m) => m.received.length === 3))
        yield* Effect.forEach([...members, ...broadcasts], (s) => s.close, {
          concurrency: "unbounded",
          discard: true
        })

        const next = yield* subscribe(transport, { topic, group, ackWait: "1 second" }, ackEach)
        yield* receivedSuch(next, "all 100 messages", (received) => new Set(bodies(received)).size === 100)
        yield* h.settle
        expect(new Set(bodies(next.received))).toEqual(new Set(Array.from({ length: 100 }, (_, i) => `m-${i}`)))
        yield* h.eventually(
          "the group to have nothing pending or in flight",
          h
            .lag(transport, topic, group)
            .pipe(Effect.map((lag) => lag.pending === 0 && lag.inFlight === 0 && lag.missed === 0))
        )
      })
    )
  })

  describe("lag", () => {
    h.test("lag counts pending and in-flight messages as they are delivered and acked", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("lag")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        const subscriber = yield* subscribe(transport, { topic, group, maxInFlight: 2 })
        yield* groupExists(transport, topic, group)
        expect(yield* h.lag(transport, topic, group)).toEqual({ pending: 0, inFlight: 0, missed: 0 })
        yield* transport.publish(records(topic, 5))
        const lagIs = (pending: number, inFlight: number) =>
          h.eventually(
            `lag to be ${pending} pending and ${inFlight} in flight`,
            Effect.map(
              h.lag(transport, topic, group),
              (lag) => lag.pending === pending && lag.inFlight === inFlight && lag.missed === 0
            )
          )

        yield* receivedAtLeast(subscriber, 2)
        yield* lagIs(3, 2)
        yield* (subscriber.received[0] as Transport.Delivery).ack
        yield* receivedAtLeast(subscriber, 3)
        yield* lagIs(2, 2)
        yield* Effect.forEach(subscriber.received.slice(1, 3), (d) => d.ack, { discard: true })
        yield* receivedAtLeast(subscriber, 5)
        yield* lagIs(0, 2)
        yield* Effect.forEach(subscriber.received.slice(3, 5), (d) => d.ack, { discard: true })
        yield* lagIs(0, 0)
        expect(sequences(subscriber.received)).toEqual([1, 2, 3, 4, 5])
      })
    )
  })
}
