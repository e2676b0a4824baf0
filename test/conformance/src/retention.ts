/**
 * What a topic keeps: limits by count, bytes and age with either discard
 * policy, and the dedup window by message id.
 */
import { describe, expect } from "@effect/vitest"
import type { Transport } from "@sluice/core"
import { Effect } from "effect"
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
import { failureOf } from "./outcome.ts"

/** A record whose payload is `size` bytes. */
const sized = (topic: string, label: string, size: number): Transport.OutgoingRecord => ({
  ...record(topic, label),
  payload: new Uint8Array(size).fill(label.charCodeAt(label.length - 1))
})

export const retentionTests = (h: Harness) => {
  const { receivedAtLeast, groupExists } = waits(h)

  describe("retention", () => {
    h.test("maxMessages with discard old drops the oldest messages and counts them as discarded", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-messages-old")
        yield* transport.ensureTopic({ name: topic, maxMessages: 5, discard: "old" })
        const receipts = yield* transport.publish(records(topic, 8))
        expect(receipts.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
        expect(yield* h.topicInfo(transport, topic)).toMatchObject({
          messages: 5,
          firstSequence: 4,
          lastSequence: 8,
          discarded: h.removed(3),
          expired: 0
        })
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 5)
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["m-3", "m-4", "m-5", "m-6", "m-7"])
      })
    )

    h.test("without a discard policy, maxMessages drops the oldest messages", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-messages-default")
        yield* transport.ensureTopic({ name: topic, maxMessages: 2 })
        yield* transport.publish(records(topic, 3))
        expect(yield* h.topicInfo(transport, topic)).toMatchObject({
          messages: 2,
          firstSequence: 2,
          discarded: h.removed(1)
        })
      })
    )

    h.test("maxMessages with discard new rejects a publish with TopicFull and keeps what was stored", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-messages-new")
        yield* transport.ensureTopic({ name: topic, maxMessages: 3, discard: "new" })
        yield* transport.publish(records(topic, 3))
        const error = yield* failureOf(h, "a publish to a full topic", transport.publish([record(topic, "rejected")]))
        expect(error).toMatchObject({ _tag: "TopicFull", topic, limit: "messages" })
        expect(yield* h.topicInfo(transport, topic)).toMatchObject({ messages: 3, lastSequence: 3, discarded: 0 })
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 3)
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["m-0", "m-1", "m-2"])
      })
    )

    h.test("maxBytes with discard old keeps the newest messages within the byte limit", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-bytes-old")
        yield* transport.ensureTopic({ name: topic, maxBytes: 2000, discard: "old" })
        const sent = Array.from({ length: 10 }, (_, i) => sized(topic, `m-${i}`, 500))
        yield* Effect.forEach(sent, (r) => transport.publish([r]), { discard: true })
        const info = yield* h.topicInfo(transport, topic)
        // At most four 500-byte payloads fit (fewer if the broker counts its own overhead).
        expect(info.bytes).toBeLessThanOrEqual(2000)
        expect(info.messages).toBeGreaterThanOrEqual(1)
        expect(info.messages).toBeLessThanOrEqual(4)
        expect(info.lastSequence).toBe(10)
        expect(info.firstSequence).toBe(11 - info.messages)
        expect(info.discarded).toBe(h.removed(10 - info.messages))
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, info.messages)
        yield* h.settle
        expect(sequences(subscriber.received)).toEqual(
          Array.from({ length: info.messages }, (_, i) => info.firstSequence + i)
        )
      })
    )

    h.test("maxBytes with discard new rejects a publish that does not fit with TopicFull", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("max-bytes-new")
        yield* transport.ensureTopic({ name: topic, maxBytes: 2000, discard: "new" })
        yield* transport.publish([sized(topic, "a", 800)])
        const error = yield* failureOf(h, "a publish over the byte limit", transport.publish([sized(topic, "b", 1500)]))
        expect(error).toMatchObject({ _tag: "TopicFull", topic, limit: "bytes" })
        expect(yield* h.topicInfo(transport, topic)).toMatchObject({ messages: 1, lastSequence: 1, discarded: 0 })
      })
    )

    h.test(
      "messages older than maxAge expire, are counted as expired, and as missed by a group that never got them",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("max-age")
          const idle = uniqueGroup("idle")
          const reader = uniqueGroup("reader")
          yield* transport.ensureTopic({ name: topic, maxAge: "1 second" })
          // The idle group exists (its subscription came and went) but never receives anything.
          const idleSubscription = yield* subscribe(transport, { topic, group: idle })
          yield* groupExists(transport, topic, idle)
          yield* idleSubscription.close
          // A closed subscription's pulls may take messages (and hand them back) until they expire (NATS: 3 s).
          yield* h.advance("4 seconds")
          yield* transport.publish(records(topic, 3, "old"))
          const readerSubscription = yield* subscribe(transport, { topic, group: reader }, ackEach)
          yield* receivedAtLeast(readerSubscription, 3)
          yield* readerSubscription.close

          yield* h.advance("1500 millis")
          yield* h.eventually(
            "the three old messages to expire",
            Effect.map(transport.topicInfo(topic), (info) => info.messages === 0)
          )
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({
            messages: 0,
            firstSequence: 4,
            lastSequence: 3,
            expired: h.removed(3),
            discarded: 0
          })
          expect(yield* h.lag(transport, topic, idle)).toEqual({
            pending: 0,
            inFlight: 0,
            missed: h.removed(3)
          })
          expect(yield* h.lag(transport, topic, reader)).toEqual({ pending: 0, inFlight: 0, missed: 0 })

          yield* transport.publish(records(topic, 2, "fresh"))
          const idleAgain = yield* subscribe(transport, { topic, group: idle }, ackEach)
          yield* receivedAtLeast(idleAgain, 2)
          yield* h.settle
          expect(bodies(idleAgain.received)).toEqual(["fresh-0", "fresh-1"])
          expect(sequences(idleAgain.received)).toEqual([4, 5])
        })
    )
  })

  describe("dedup window", () => {
    h.test(
      "a record published again with the same id within the dedup window is confirmed as a duplicate and stored once",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("dedup")
          yield* transport.ensureTopic({ name: topic })
          const [original] = yield* transport.publish([record(topic, "original", { id: "payment-42" })])
          yield* transport.publish([record(topic, "other")])
          const again = yield* transport.publish([record(topic, "republished", { id: "payment-42" })])
          expect(original).toEqual({ topic, sequence: 1, duplicate: false })
          expect(again).toEqual([{ topic, sequence: 1, duplicate: true }])
          // Twice in one batch: the second is the duplicate of the first.
          const batch = yield* transport.publish([
            record(topic, "first-of-batch", { id: "batch-id" }),
            record(topic, "second-of-batch", { id: "batch-id" })
          ])
          expect(batch).toEqual([
            { topic, sequence: 3, duplicate: false },
            { topic, sequence: 3, duplicate: true }
          ])
          expect(yield* transport.topicInfo(topic)).toMatchObject({ messages: 3, lastSequence: 3 })
          const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
          yield* receivedAtLeast(subscriber, 3)
          yield* h.settle
          expect(bodies(subscriber.received)).toEqual(["original", "other", "first-of-batch"])
        })
    )

    h.test("after the dedup window passes, a record with the same id is stored again", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("dedup-window")
        yield* transport.ensureTopic({ name: topic, dedupWindow: "1 second" })
        const first = yield* transport.publish([record(topic, "first", { id: "same" })])
        yield* h.advance("300 millis")
        const within = yield* transport.publish([record(topic, "within", { id: "same" })])
        yield* h.advance("2700 millis")
        const after = yield* transport.publish([record(topic, "after", { id: "same" })])
        expect([...first, ...within, ...after]).toEqual([
          { topic, sequence: 1, duplicate: false },
          { topic, sequence: 1, duplicate: true },
          { topic, sequence: 2, duplicate: false }
        ])
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 2)
        yield* h.settle
        expect(bodies(subscriber.received)).toEqual(["first", "after"])
      })
    )
  })
}
