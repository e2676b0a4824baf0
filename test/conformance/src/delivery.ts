/**
 * Settling deliveries: nak, ack wait, working, delayed nak, term, max
 * deliveries, backoff, order with one message in flight, and the in-flight
 * bound.
 */
import { describe, expect } from "@effect/vitest"
import type { Transport } from "@sluice/core"
import { Effect } from "effect"
import {
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

const deliveryCountsOf = (received: ReadonlyArray<Transport.Delivery>, body: string): Array<number> =>
  received.filter((d) => new TextDecoder().decode(d.payload) === body).map((d) => d.deliveryCount)

export const deliveryTests = (h: Harness) => {
  const { receivedAtLeast, receivedSuch, groupExists } = waits(h)

  describe("redelivery and settlement", () => {
    h.test("a nak'ed message is delivered again, with the next delivery count", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("nak")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "again", { headers: { "x-kept": "yes" } })])
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, (d) =>
          d.deliveryCount < 3 ? d.nak() : d.ack
        )
        yield* receivedAtLeast(subscriber, 3)
        yield* h.settle
        expect(subscriber.received.map((d) => d.deliveryCount)).toEqual([1, 2, 3])
        const [first, ...rest] = subscriber.received as [Transport.Delivery, ...Array<Transport.Delivery>]
        for (const d of rest) {
          expect(d.sequence).toBe(first.sequence)
          expect(d.id).toBe(first.id)
          expect(d.headers).toMatchObject({ "x-kept": "yes" })
          expect(bodies([d])).toEqual(["again"])
        }
      })
    )

    h.test(
      "a delivery's history counts earlier deliveries retried as failures and those left past their ack wait as abandoned, not naks, across members",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("history")
          const group = uniqueGroup()
          yield* transport.ensureTopic({ name: topic })
          yield* transport.publish([record(topic, "tracked")])
          const histories: Array<Transport.DeliveryHistory> = []
          const first = yield* subscribe(transport, { topic, group, ackWait: "1 second" }, (d) =>
            Effect.flatMap(d.history, (history) => {
              histories.push(history)
              // 1: its handler failed; 2: handed back; 3: left past its ack wait (a crash); 4: done.
              return d.deliveryCount === 1
                ? d.retry()
                : d.deliveryCount === 2
                  ? d.nak()
                  : d.deliveryCount === 3
                    ? Effect.void
                    : d.ack
            })
          )
          yield* receivedAtLeast(first, 3)
          yield* first.close
          // Another member of the group reads the same history.
          const second = yield* subscribe(transport, { topic, group, ackWait: "1 second" }, (d) =>
            Effect.flatMap(d.history, (history) => {
              histories.push(history)
              return d.ack
            })
          )
          yield* receivedAtLeast(second, 1, "10 seconds")
          yield* h.settle
          expect(first.received.map((d) => d.deliveryCount)).toEqual([1, 2, 3])
          // Delivery 4 may reach the closed first member's lingering pull (NATS): it hands it back, uncounted.
          expect(second.received).toHaveLength(1)
          expect(histories.slice(0, 3)).toEqual([
            { failures: 0, abandoned: 0 },
            { failures: 1, abandoned: 0 },
            { failures: 1, abandoned: 0 }
          ])
          expect(histories.at(-1), "what the second member reads").toEqual({ failures: 1, abandoned: 1 })
        })
    )

    h.test("with maxInFlight 1, no message is delivered before the previous one is settled", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("one-at-a-time")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 6))
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup(), maxInFlight: 1 })
        for (let i = 1; i <= 6; i++) {
          yield* receivedAtLeast(subscriber, i)
          yield* h.settle
          expect(subscriber.received).toHaveLength(i)
          const latest = subscriber.received[i - 1] as Transport.Delivery
          expect(latest.sequence).toBe(i)
          yield* latest.ack
        }
        yield* h.settle
        expect(subscriber.received).toHaveLength(6)
      })
    )

    h.test("with maxInFlight 1, a group receives in sequence order, redeliveries included", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("ordered-redelivery")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 30))
        // Every third message is nak'ed twice, every fifth once.
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup(), maxInFlight: 1 }, (d) =>
          (d.sequence % 3 === 0 && d.deliveryCount <= 2) || (d.sequence % 5 === 0 && d.deliveryCount === 1)
            ? d.nak()
            : d.ack
        )
        const expected = Array.from({ length: 30 }, (_, i) => i + 1).flatMap((s) =>
          Array.from({ length: s % 3 === 0 ? 3 : s % 5 === 0 ? 2 : 1 }, () => s)
        )
        yield* receivedAtLeast(subscriber, expected.length)
        yield* h.settle
        expect(sequences(subscriber.received)).toEqual(expected)
      })
    )

    h.test("with maxInFlight 1, each key's messages are processed in publish order", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("key-order")
        yield* transport.ensureTopic({ name: topic })
        const keys = ["alpha", "beta", "gamma", "delta", "epsilon"]
        const sent = Array.from({ length: 60 }, (_, i) => {
          const key = keys[(i * 7) % keys.length] as string
          return record(topic, `${key}-${i}`, { key })
        })
        yield* transport.publish(sent)
        const done: Array<Transport.Delivery> = []
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup(), maxInFlight: 1 }, (d) =>
          d.sequence % 4 === 0 && d.deliveryCount === 1
            ? d.nak()
            : Effect.andThen(
                d.ack,
                Effect.sync(() => done.push(d))
              )
        )
        yield* h.eventually("60 processed messages", () => done.length >= 60)
        yield* h.settle
        expect(subscriber.received.length).toBe(60 + 15)
        for (const key of keys) {
          expect(done.filter((d) => d.key === key).map((d) => bodies([d])[0])).toEqual(
            sent.filter((r) => r.key === key).map((r) => new TextDecoder().decode(r.payload))
          )
        }
      })
    )

    h.test("a subscriber that naks some messages, some with a delay, still gets every message", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("continue-after-errors")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 60))
        const done = new Set<string>()
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup(), maxInFlight: 10 }, (d) => {
          if (d.sequence % 3 === 0 && d.deliveryCount === 1) return d.nak()
          if (d.sequence % 7 === 0 && d.deliveryCount <= 2) return d.nak("200 millis")
          return Effect.andThen(
            d.ack,
            Effect.sync(() => done.add(bodies([d])[0] as string))
          )
        })
        yield* h.eventually("all 60 messages processed", () => done.size === 60)
        yield* h.settle
        expect(done).toEqual(new Set(Array.from({ length: 60 }, (_, i) => `m-${i}`)))
        expect(subscriber.failure()).toBeUndefined()
      })
    )

    h.test("an unsettled delivery is delivered again after its ack wait, as delivery 2", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("ack-wait")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "slow")])
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup(), ackWait: "1 second" }, (d) =>
          d.deliveryCount === 1 ? Effect.void : d.ack
        )
        yield* receivedAtLeast(subscriber, 1)
        yield* h.advance("500 millis")
        expect(subscriber.received).toHaveLength(1)
        yield* receivedAtLeast(subscriber, 2)
        yield* h.advance("1500 millis")
        yield* h.settle
        expect(subscriber.received.map((d) => [bodies([d])[0], d.deliveryCount])).toEqual([
          ["slow", 1],
          ["slow", 2]
        ])
      })
    )

    h.test("working restarts the ack wait, so a slow delivery is not redelivered", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("working")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "long-job")])
        const subscriber = yield* subscribe(transport, { topic, group, ackWait: "1 second" })
        yield* receivedAtLeast(subscriber, 1)
        const delivery = subscriber.received[0] as Transport.Delivery
        // Two ack waits of work, reporting progress every half ack wait.
        for (let i = 0; i < 4; i++) {
          yield* h.advance("500 millis")
          yield* delivery.working
        }
        yield* h.settle
        expect(subscriber.received).toHaveLength(1)
        yield* delivery.ack
        yield* h.advance("1200 millis")
        yield* h.settle
        expect(subscriber.received).toHaveLength(1)
        expect(yield* h.lag(transport, topic, group)).toEqual({ pending: 0, inFlight: 0, missed: 0 })
      })
    )

    h.test("a message nak'ed with a delay is not delivered again before the delay, and is after it", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("nak-delay")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "later")])
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, (d) =>
          d.deliveryCount === 1 ? d.nak("2 seconds") : d.ack
        )
        yield* receivedAtLeast(subscriber, 1)
        yield* h.advance("1 second")
        yield* h.settle
        expect(subscriber.received).toHaveLength(1)
        yield* receivedAtLeast(subscriber, 2)
        expect(subscriber.received.map((d) => d.deliveryCount)).toEqual([1, 2])
      })
    )

    h.test("a termed message is never delivered again, and the group goes on", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("term")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "poison"), record(topic, "fine")])
        const subscriber = yield* subscribe(transport, { topic, group, ackWait: "1 second" }, (d) =>
          bodies([d])[0] === "poison" ? d.term : d.ack
        )
        yield* receivedAtLeast(subscriber, 2)
        yield* h.advance("1500 millis")
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["poison", "fine"])
        expect(yield* h.lag(transport, topic, group)).toEqual({ pending: 0, inFlight: 0, missed: 0 })
      })
    )

    h.test("a message is not delivered again after its maxDeliveries-th delivery", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-deliveries")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "failing"), record(topic, "slow"), record(topic, "fine")])
        // "failing" is nak'ed every time; "slow" is never settled and comes back after each ack wait.
        const subscriber = yield* subscribe(
          transport,
          { topic, group: uniqueGroup(), maxDeliveries: 3, ackWait: "500 millis" },
          (d) => {
            const body = bodies([d])[0]
            return body === "failing" ? d.nak() : body === "slow" ? Effect.void : d.ack
          }
        )
        yield* receivedSuch(subscriber, "three deliveries of each failing message", (received) => {
          return deliveryCountsOf(received, "failing").length >= 3 && deliveryCountsOf(received, "slow").length >= 3
        })
        yield* h.advance("1500 millis")
        yield* h.settle
        expect(deliveryCountsOf(subscriber.received, "failing")).toEqual([1, 2, 3])
        expect(deliveryCountsOf(subscriber.received, "slow")).toEqual([1, 2, 3])
        expect(deliveryCountsOf(subscriber.received, "fine")).toEqual([1])
      })
    )

    h.test("backoff sets the ack wait of each delivery, and its last entry repeats", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("backoff")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "unsettled")])
        // Delivery 1 waits 500 ms, then deliveries 2 and 3 wait 1500 ms each: deliveries at 0, 0.5, 2.0 and 3.5 s.
        const subscriber = yield* subscribe(transport, {
          topic,
          group: uniqueGroup(),
          backoff: ["500 millis", "1500 millis"],
          maxDeliveries: 4
        })
        const count = () => subscriber.received.length
        // Checked half-way between the expected deliveries (no settle: on a real broker it would shift the checks).
        yield* receivedAtLeast(subscriber, 1)
        yield* h.advance("250 millis")
        expect(count()).toBe(1)
        yield* h.advance("1 second") // 1.25 s
        expect(count()).toBe(2)
        yield* h.advance("1500 millis") // 2.75 s
        expect(count()).toBe(3)
        yield* receivedAtLeast(subscriber, 4)
        yield* h.settle
        expect(subscriber.received.map((d) => d.deliveryCount)).toEqual([1, 2, 3, 4])
      })
    )
  })

  describe("in-flight bound", () => {
    h.test("a member that settles nothing holds exactly maxInFlight deliveries, and gets more as it acks", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-in-flight-hold")
        const group = uniqueGroup()
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 12))
        const subscriber = yield* subscribe(transport, { topic, group, maxInFlight: 4 })
        yield* receivedAtLeast(subscriber, 4)
        yield* h.settle
        expect(sequences(subscriber.received)).toEqual([1, 2, 3, 4])
        yield* Effect.forEach(subscriber.received.slice(0, 2), (d) => d.ack, { discard: true })
        yield* receivedAtLeast(subscriber, 6)
        yield* h.settle
        expect(subscriber.received).toHaveLength(6)
        expect(yield* h.lag(transport, topic, group)).toEqual({ pending: 6, inFlight: 4, missed: 0 })
      })
    )

    h.test("a delivery whose ack wait passed no longer counts against maxInFlight: the member gets it again", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-in-flight-expired")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish([record(topic, "forgotten")])
        // Settles only the second delivery: the first, left unsettled, fills the bound of 1 until its ack wait passes.
        const subscriber = yield* subscribe(
          transport,
          { topic, group: uniqueGroup(), maxInFlight: 1, ackWait: "1 second" },
          (d) => (d.deliveryCount === 1 ? Effect.void : d.ack)
        )
        yield* receivedAtLeast(subscriber, 1)
        yield* h.advance("1500 millis")
        yield* receivedAtLeast(subscriber, 2)
        yield* h.settle
        expect(subscriber.received.map((d) => [bodies([d])[0], d.deliveryCount])).toEqual([
          ["forgotten", 1],
          ["forgotten", 2]
        ])
      })
    )

    h.test("a member never holds more than maxInFlight unsettled deliveries while it acks concurrently", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-in-flight-measure")
        yield* transport.ensureTopic({ name: topic })
        const group = uniqueGroup()
        const maxInFlight = 7
        let unsettled = 0
        let highest = 0
        let acked = 0
        let turn = 0
        const subscriber = yield* subscribe(transport, { topic, group, maxInFlight }, (d) =>
          Effect.gen(function* () {
            unsettled++
            highest = Math.max(highest, unsettled)
            const yields = (turn++ * 7) % 23
            // Settles later, in its own fiber; counted as settled just before the ack is sent.
            yield* Effect.forkChild(
              Effect.gen(function* () {
                for (let i = 0; i < yields; i++) yield* Effect.yieldNow
                unsettled--
                yield* d.ack
                acked++
              })
            )
          })
        )
        yield* groupExists(transport, topic, group)
        yield* Effect.forEach(
          Array.from({ length: 10 }, (_, b) => b),
          (b) => transport.publish(records(topic, 50, `b${b}`)),
          { concurrency: 2, discard: true }
        )
        yield* h.eventually("500 acked messages", () => acked >= 500)
        yield* h.settle
        expect(new Set(bodies(subscriber.received)).size).toBe(500)
        expect(highest).toBeLessThanOrEqual(maxInFlight)
        expect(highest).toBeGreaterThan(1)
      })
    )
  })
}
