/**
 * Broadcast subscriptions (no group): each receives every message on its own,
 * from now by default.
 */
import { describe, expect } from "@effect/vitest"
import { StartPosition } from "@sluice/core"
import { Effect } from "effect"
import { ackEach, bodies, type Harness, records, subscribe, uniqueGroup, uniqueTopic, waits } from "./harness.ts"

export const broadcastTests = (h: Harness) => {
  const { receivedAtLeast, broadcastLive } = waits(h)

  describe("broadcast", () => {
    h.test("every broadcast subscription receives every message, and a group beside them does too", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("broadcast")
        yield* transport.ensureTopic({ name: topic })
        const first = yield* subscribe(transport, { topic }, ackEach)
        const second = yield* subscribe(transport, { topic }, ackEach)
        const group = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* broadcastLive(transport, first)
        yield* broadcastLive(transport, second)
        yield* transport.publish(records(topic, 30))
        yield* Effect.forEach([first, second], (s) => receivedAtLeast(s, 30), { discard: true })
        yield* receivedAtLeast(group, 30)
        yield* h.settle
        const expected = Array.from({ length: 30 }, (_, i) => `m-${i}`)
        expect(bodies(first.received)).toEqual(expected)
        expect(bodies(second.received)).toEqual(expected)
        expect(bodies(group.received)).toEqual(expected)
      })
    )

    h.test("a broadcast subscription started later does not receive earlier messages", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("broadcast-new")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 5, "earlier"))
        const late = yield* subscribe(transport, { topic }, ackEach)
        yield* broadcastLive(transport, late)
        yield* transport.publish(records(topic, 3, "later"))
        yield* receivedAtLeast(late, 3)
        yield* h.settle
        expect(bodies(late.received)).toEqual(["later-0", "later-1", "later-2"])
      })
    )

    h.test("a broadcast subscription with start All receives the messages published before it", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("broadcast-all")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 5, "earlier"))
        const replay = yield* subscribe(transport, { topic, start: StartPosition.all }, ackEach)
        yield* receivedAtLeast(replay, 5)
        yield* h.settle
        expect(bodies(replay.received)).toEqual(["earlier-0", "earlier-1", "earlier-2", "earlier-3", "earlier-4"])
      })
    )

    h.test("a broadcast subscription that settles nothing does not hold messages back from the others", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("broadcast-independent")
        yield* transport.ensureTopic({ name: topic })
        const stuck = yield* subscribe(transport, { topic, maxInFlight: 2 })
        const live = yield* subscribe(transport, { topic }, ackEach)
        yield* broadcastLive(transport, live)
        yield* broadcastLive(transport, stuck)
        yield* transport.publish(records(topic, 10))
        yield* receivedAtLeast(live, 10)
        yield* h.settle
        expect(bodies(live.received)).toEqual(Array.from({ length: 10 }, (_, i) => `m-${i}`))
        // The stuck one holds its probe and at most one more delivery.
        expect(stuck.received.length).toBeLessThanOrEqual(2)
      })
    )
  })
}
