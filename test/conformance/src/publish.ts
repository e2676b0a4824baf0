/**
 * Publishing: confirmations, integrity of what arrives, many publishers and
 * subscribers at once, isolation of topics, and what a confirmation promises.
 */
import { describe, expect } from "@effect/vitest"
import type { Transport } from "@sluice/core"
import { Clock, Effect, Fiber } from "effect"
import {
  ackEach,
  bodies,
  type Harness,
  record,
  records,
  sequences,
  subscribe,
  text,
  uniqueGroup,
  uniqueTopic,
  waits
} from "./harness.ts"

export const publishTests = (h: Harness) => {
  const { receivedAtLeast, receivedSuch } = waits(h)

  describe("publish and subscribe", () => {
    h.test("a published record arrives with its payload, id, key and headers intact", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("intact")
        yield* transport.ensureTopic({ name: topic })
        const binary = new Uint8Array(256).map((_, i) => i)
        const sent: Array<Transport.OutgoingRecord> = [
          {
            topic,
            id: "order-1.created",
            key: "order-1",
            headers: { "content-type": "application/octet-stream", "x-trace": "a b=c; d:e/f,g" },
            payload: binary
          },
          { topic, id: "no-key", headers: {}, payload: new TextEncoder().encode('{"text":"héllo ✓"}') },
          { topic, id: "empty", key: "k.with.dots>*", headers: { "x-empty": "" }, payload: new Uint8Array(0) }
        ]
        const before = yield* Clock.currentTimeMillis
        const receipts = yield* transport.publish(sent)
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 3)
        const after = yield* Clock.currentTimeMillis

        expect(subscriber.received).toHaveLength(3)
        subscriber.received.forEach((delivery, i) => {
          const original = sent[i] as Transport.OutgoingRecord
          expect(delivery.topic).toBe(topic)
          expect(delivery.id).toBe(original.id)
          expect(delivery.key).toBe(original.key)
          expect(Array.from(delivery.payload)).toEqual(Array.from(original.payload))
          expect(delivery.headers).toMatchObject(original.headers)
          expect(delivery.sequence).toBe((receipts[i] as Transport.PublishReceipt).sequence)
          expect(delivery.deliveryCount).toBe(1)
          // Stored between the publish and the receipt, on the clock the transport follows (1 s of slack for a server's clock).
          expect(delivery.publishedAt).toBeGreaterThanOrEqual(before - 1000)
          expect(delivery.publishedAt).toBeLessThanOrEqual(after + 1000)
        })
        expect(text(subscriber.received[1]?.payload ?? new Uint8Array())).toBe('{"text":"héllo ✓"}')
      })
    )

    h.test("publish confirms every record of a batch, in order, with consecutive sequences from 1", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("receipts")
        yield* transport.ensureTopic({ name: topic })
        const first = yield* transport.publish(records(topic, 5, "a"))
        const second = yield* transport.publish(records(topic, 3, "b"))
        expect(first).toEqual([1, 2, 3, 4, 5].map((sequence) => ({ topic, sequence, duplicate: false })))
        expect(second).toEqual([6, 7, 8].map((sequence) => ({ topic, sequence, duplicate: false })))
        expect(yield* transport.publish([])).toEqual([])

        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 8)
        expect(bodies(subscriber.received)).toEqual([
          ...Array.from({ length: 5 }, (_, i) => `a-${i}`),
          ...Array.from({ length: 3 }, (_, i) => `b-${i}`)
        ])
        expect(sequences(subscriber.received)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      })
    )

    h.test("topicInfo reports the messages a topic holds and its first and last sequences", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("info")
        yield* transport.ensureTopic({ name: topic })
        expect(yield* h.topicInfo(transport, topic)).toEqual({
          name: topic,
          messages: 0,
          bytes: 0,
          firstSequence: 1,
          lastSequence: 0,
          expired: 0,
          discarded: 0
        })
        const sent = records(topic, 4, "payload-of-some-length")
        yield* transport.publish(sent)
        const info = yield* h.topicInfo(transport, topic)
        expect(info).toMatchObject({
          name: topic,
          messages: 4,
          firstSequence: 1,
          lastSequence: 4,
          expired: 0,
          discarded: 0
        })
        // At least the payload bytes (a broker may count its own overhead too).
        expect(info.bytes).toBeGreaterThanOrEqual(sent.reduce((sum, r) => sum + r.payload.byteLength, 0))
      })
    )

    h.test("ensureTopic with the same config again changes nothing", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("ensure-again")
        const config = { name: topic, maxMessages: 100, dedupWindow: "1 minute" } as const
        yield* transport.ensureTopic(config)
        yield* transport.publish(records(topic, 3))
        const before = yield* transport.topicInfo(topic)
        yield* transport.ensureTopic(config)
        yield* transport.ensureTopic(config)
        expect(yield* transport.topicInfo(topic)).toEqual(before)
        expect(before.messages).toBe(3)
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 3)
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["m-0", "m-1", "m-2"])
      })
    )
  })

  describe("many at once", () => {
    h.test("many concurrent publishers and subscribers lose nothing and duplicate nothing", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("concurrent")
        yield* transport.ensureTopic({ name: topic })
        const sharedGroup = uniqueGroup("shared")
        const soloGroup = uniqueGroup("solo")
        const members = yield* Effect.forEach(
          Array.from({ length: 5 }),
          () => subscribe(transport, { topic, group: sharedGroup, maxInFlight: 20 }, ackEach),
          { concurrency: "unbounded" }
        )
        // One at a time, so that order is guaranteed.
        const solo = yield* subscribe(transport, { topic, group: soloGroup, maxInFlight: 1 }, ackEach)

        const publishers = 10
        const perPublisher = 60
        const receipts = yield* Effect.forEach(
          Array.from({ length: publishers }, (_, p) => p),
          (p) =>
            Effect.gen(function* () {
              const mine: Array<Transport.PublishReceipt> = []
              // Batches of 1 to 5 records, so single publishes and batches interleave.
              for (let i = 0; i < perPublisher; ) {
                const size = Math.min(1 + ((p + i) % 5), perPublisher - i)
                const batch = Array.from({ length: size }, (_, j) => record(topic, `p${p}-${i + j}`))
                mine.push(...(yield* transport.publish(batch)))
                i += size
              }
              return mine
            }),
          { concurrency: "unbounded" }
        )
        const total = publishers * perPublisher
        const allSequences = receipts.flat().map((r) => r.sequence)
        expect(new Set(allSequences).size).toBe(total)
        expect(Math.min(...allSequences)).toBe(1)
        expect(Math.max(...allSequences)).toBe(total)

        const expected = Array.from({ length: publishers }, (_, p) =>
          Array.from({ length: perPublisher }, (_, i) => `p${p}-${i}`)
        )
          .flat()
          .sort()
        const sharedBodies = () => members.flatMap((m) => bodies(m.received))
        yield* h.eventually(`${total} deliveries shared by the members of ${sharedGroup}`, () => {
          return new Set(sharedBodies()).size >= total
        })
        yield* receivedAtLeast(solo, total)
        yield* h.settle
        expect([...sharedBodies()].sort()).toEqual(expected)
        expect(members.every((m) => m.received.every((d) => d.deliveryCount === 1))).toBe(true)
        expect([...bodies(solo.received)].sort()).toEqual(expected)
        // Each publisher's messages arrive in the order it published them.
        for (let p = 0; p < publishers; p++) {
          const mine = bodies(solo.received).filter((b) => b.startsWith(`p${p}-`))
          expect(mine).toEqual(Array.from({ length: perPublisher }, (_, i) => `p${p}-${i}`))
        }
      })
    )

    h.test("messages stay on the topic they were published to, across many topics", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topics = Array.from({ length: 12 }, (_, i) => uniqueTopic(`isolated${i}`))
        yield* Effect.forEach(topics, (name) => transport.ensureTopic({ name }), { discard: true })
        const subscribers = yield* Effect.forEach(topics, (topic) =>
          subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        )
        yield* Effect.forEach(topics, (topic, t) => transport.publish(records(topic, 20, `t${t}`)), {
          concurrency: "unbounded",
          discard: true
        })
        yield* Effect.forEach(subscribers, (s) => receivedAtLeast(s, 20), { discard: true })
        yield* h.settle
        subscribers.forEach((s, t) => {
          expect(bodies(s.received)).toEqual(Array.from({ length: 20 }, (_, i) => `t${t}-${i}`))
          expect(s.received.every((d) => d.topic === topics[t])).toBe(true)
        })
      })
    )

    h.test("every confirmed publish is delivered, even when its publishers are interrupted mid-stream", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("publisher-close")
        yield* transport.ensureTopic({ name: topic })
        const confirmed = new Set<string>()
        const attempted = new Set<string>()
        const publishers = yield* Effect.forEach(
          Array.from({ length: 6 }, (_, p) => p),
          (p) =>
            Effect.forkChild(
              Effect.gen(function* () {
                for (let i = 0; ; i++) {
                  const r = record(topic, `p${p}-${i}`)
                  attempted.add(`p${p}-${i}`)
                  yield* transport.publish([r])
                  confirmed.add(`p${p}-${i}`)
                  yield* Effect.yieldNow
                }
              })
            )
        )
        yield* h.eventually("300 confirmed publishes", () => confirmed.size >= 300)
        yield* Effect.forEach(publishers, Fiber.interrupt, { concurrency: "unbounded", discard: true })
        const confirmedAtClose = new Set(confirmed)

        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedSuch(subscriber, "every confirmed message", (received) => {
          const got = new Set(bodies(received))
          return [...confirmedAtClose].every((b) => got.has(b))
        })
        yield* h.settle
        const got = bodies(subscriber.received)
        expect(new Set(got).size).toBe(got.length)
        for (const body of got) expect(attempted.has(body)).toBe(true)
        const info = yield* transport.topicInfo(topic)
        expect(info.messages).toBe(got.length)
      })
    )
  })

  if (h.features.durable) {
    describe("durability", () => {
      h.test("confirmed messages and group positions survive closing and making the transport again", () =>
        Effect.gen(function* () {
          const topic = uniqueTopic("durable")
          const group = uniqueGroup()
          yield* Effect.scoped(
            Effect.gen(function* () {
              const transport = yield* h.make
              yield* transport.ensureTopic({ name: topic })
              yield* transport.publish(records(topic, 10))
              const subscriber = yield* subscribe(
                transport,
                { topic, group, maxInFlight: 1, ackWait: "1 second" },
                (d) => (d.sequence <= 4 ? d.ack : Effect.void)
              )
              yield* receivedAtLeast(subscriber, 5)
              yield* subscriber.close
            })
          )
          // The group acked m-0 … m-3 and held m-4 unsettled when the first transport closed.
          const transport = yield* h.make
          const subscriber = yield* subscribe(transport, { topic, group, ackWait: "1 second" }, ackEach)
          yield* receivedAtLeast(subscriber, 6)
          yield* h.settle
          expect(bodies(subscriber.received).sort()).toEqual(["m-4", "m-5", "m-6", "m-7", "m-8", "m-9"])
        })
      )
    })
  }
}
