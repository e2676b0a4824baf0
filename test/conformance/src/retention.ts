/**
 * What a topic keeps: limits by count, bytes and age with either discard
 * policy, interest retention (a message goes once every group that holds it
 * acked it), and the dedup window by message id.
 */
import { describe, expect } from "@effect/vitest"
import { Bus, type Errors, StartPosition, Topic, type Transport } from "@sluice/core"
import { Effect, Schema } from "effect"
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
  const { receivedAtLeast, receivedSuch, groupExists, broadcastLive } = waits(h)

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

    h.test(
      "a batch that fills a topic part-way fails with PartiallyPublished: what was stored, with its receipts, and why the rest was not",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("partial-batch")
          yield* transport.ensureTopic({ name: topic, maxMessages: 4, discard: "new" })
          yield* transport.publish(records(topic, 1, "before"))
          const error = yield* failureOf(h, "a batch beyond the limit", transport.publish(records(topic, 6)))
          expect(error).toMatchObject({
            _tag: "PartiallyPublished",
            topic,
            cause: { _tag: "TopicFull", topic, limit: "messages" }
          })
          const partial = error as Errors.PartiallyPublished
          expect(partial.stored).toBe(3)
          expect(partial.receipts.map((receipt) => receipt?.sequence)).toEqual([
            2,
            3,
            4,
            undefined,
            undefined,
            undefined
          ])
          expect(partial.message).toMatch(/^3 of 6 messages for topic .* were stored before the publish failed: /)
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({ messages: 4, lastSequence: 4 })
          // A batch nothing of which could be stored fails with the plain cause.
          expect(yield* failureOf(h, "a batch to a full topic", transport.publish(records(topic, 2)))).toMatchObject({
            _tag: "TopicFull"
          })
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

  describe("interest retention", () => {
    /** Waits until the topic holds `messages`, and returns what it holds then. */
    const holds = (transport: Transport.Transport, topic: string, messages: number) =>
      Effect.gen(function* () {
        yield* h.eventually(
          `${topic} to hold ${messages} messages`,
          Effect.map(transport.topicInfo(topic), (info) => info.messages === messages)
        )
        return yield* h.topicInfo(transport, topic)
      })

    /** A group that exists and receives, settling nothing unless told. */
    const group = (
      transport: Transport.Transport,
      options: Transport.SubscriptionOptions,
      onDelivery?: Parameters<typeof subscribe>[2]
    ) =>
      Effect.gen(function* () {
        const subscriber = yield* subscribe(transport, options, onDelivery)
        yield* groupExists(transport, options.topic, options.group as string)
        return subscriber
      })

    h.test(
      "a message is removed once every group has acked it, wherever it stands; one a group has not acked stays",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("interest")
          yield* transport.ensureTopic({ name: topic, retention: "interest" })
          yield* group(transport, { topic, group: uniqueGroup("a") }, ackEach)
          const b = yield* group(transport, { topic, group: uniqueGroup("b") })
          yield* transport.publish(records(topic, 3))
          yield* receivedAtLeast(b, 3)
          yield* h.settle
          // Every group received them; one acked them all, the other none.
          expect(yield* holds(transport, topic, 3)).toMatchObject({ firstSequence: 1, lastSequence: 3 })
          const [first, second, third] = b.received as [Transport.Delivery, Transport.Delivery, Transport.Delivery]
          yield* first.ack
          yield* third.ack
          expect(yield* holds(transport, topic, 1)).toMatchObject({ firstSequence: 2, expired: 0, discarded: 0 })
          yield* second.ack
          expect(yield* holds(transport, topic, 0)).toMatchObject({ firstSequence: 4, lastSequence: 3 })
        })
    )

    h.test(
      "a message stored while no group exists is not kept, and a duplicate of it is confirmed with sequence 0",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("interest-none")
          yield* transport.ensureTopic({ name: topic, retention: "interest" })
          const [stored] = yield* transport.publish([record(topic, "unheard", { id: "unheard" })])
          expect(stored).toEqual({ topic, sequence: 1, duplicate: false })
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({ messages: 0, firstSequence: 2, lastSequence: 1 })
          expect(yield* transport.publish([record(topic, "again", { id: "unheard" })])).toEqual([
            { topic, sequence: 0, duplicate: true }
          ])
          // A group created now does not get it, but everything after.
          const reader = yield* group(transport, { topic, group: uniqueGroup() }, ackEach)
          yield* transport.publish([record(topic, "heard")])
          yield* receivedAtLeast(reader, 1)
          yield* h.settle
          expect(bodies(reader.received)).toEqual(["heard"])
          expect(yield* holds(transport, topic, 0)).toMatchObject({ firstSequence: 3, lastSequence: 2 })
        })
    )

    h.test(
      "a group created later holds the messages still stored from its start position on; one created at New does not",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("interest-later")
          yield* transport.ensureTopic({ name: topic, retention: "interest" })
          const early = yield* group(transport, { topic, group: uniqueGroup("early") })
          yield* transport.publish(records(topic, 2, "old"))
          yield* receivedAtLeast(early, 2)
          const late = yield* group(transport, { topic, group: uniqueGroup("late"), start: StartPosition.all })
          yield* receivedAtLeast(late, 2)
          const fresh = yield* group(
            transport,
            { topic, group: uniqueGroup("fresh"), start: StartPosition.new },
            ackEach
          )
          yield* Effect.forEach(early.received, (d) => d.ack, { discard: true })
          yield* h.settle
          // The early group acked them, the late one did not: they stay.
          yield* holds(transport, topic, 2)
          yield* Effect.forEach(late.received, (d) => d.ack, { discard: true })
          yield* holds(transport, topic, 0)
          expect(fresh.received).toEqual([])
          // A new message is held by all three until each acks it.
          yield* transport.publish([record(topic, "new")])
          yield* receivedAtLeast(fresh, 1)
          yield* receivedAtLeast(early, 3)
          yield* (early.received[2] as Transport.Delivery).ack
          yield* receivedAtLeast(late, 3)
          yield* h.settle
          yield* holds(transport, topic, 1)
          yield* (late.received[2] as Transport.Delivery).ack
          yield* holds(transport, topic, 0)
        })
    )

    h.test("a broadcast subscription holds the messages it receives until it acks them or closes", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("interest-broadcast")
        yield* transport.ensureTopic({ name: topic, retention: "interest" })
        const listener = yield* subscribe(transport, { topic })
        yield* broadcastLive(transport, listener)
        yield* Effect.forEach(listener.received, (d) => d.ack, { discard: true })
        yield* group(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* holds(transport, topic, 0)
        yield* transport.publish(records(topic, 2))
        yield* receivedAtLeast(listener, 2)
        yield* h.settle
        yield* holds(transport, topic, 2)
        yield* listener.close
        yield* holds(transport, topic, 0)
      })
    )

    h.test(
      "term settles a message as an ack does; a nak keeps it; one whose deliveries ran out stays until acked late",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("interest-settle")
          yield* transport.ensureTopic({ name: topic, retention: "interest" })
          const subscriber = yield* group(
            transport,
            { topic, group: uniqueGroup(), maxDeliveries: 2, ackWait: "500 millis" },
            (d) => {
              const body = bodies([d])[0]
              return body === "termed"
                ? d.term
                : body === "acked"
                  ? d.ack
                  : d.deliveryCount === 1
                    ? d.nak()
                    : Effect.void
            }
          )
          yield* transport.publish([record(topic, "termed"), record(topic, "abandoned"), record(topic, "acked")])
          yield* receivedSuch(subscriber, "the second attempt of the nak'ed message", (received) =>
            received.some((d) => d.deliveryCount === 2)
          )
          expect(yield* holds(transport, topic, 1)).toMatchObject({ firstSequence: 2 })
          // Its second delivery was its last: it is never delivered again, and stays stored.
          yield* h.advance("1500 millis")
          yield* h.settle
          expect(bodies(subscriber.received)).toEqual(["termed", "abandoned", "acked", "abandoned"])
          yield* holds(transport, topic, 1)
          yield* (subscriber.received[3] as Transport.Delivery).ack
          yield* holds(transport, topic, 0)
        })
    )

    h.test(
      "a consumer on an interest topic leaves nothing stored once it handled everything, and its dead letters are kept",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          const topic = Topic.make({
            name: uniqueTopic("interest-bus"),
            schema: Schema.Struct({ n: Schema.Number }),
            retention: "interest"
          })
          let handled = 0
          yield* bus.consume(topic, { group: uniqueGroup(), concurrency: 4 }, () => Effect.sync(() => handled++))
          yield* bus.publishAll(
            topic,
            Array.from({ length: 100 }, (_, n) => ({ n }))
          )
          yield* transport.publish([record(topic.name, "not json")])
          yield* h.eventually("the 100 messages to be handled", () => handled === 100)
          yield* holds(transport, topic.name, 0)
          yield* holds(transport, topic.deadLetter, 1)
        })
    )

    h.test("the limits still apply to an interest topic", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("interest-limits")
        yield* transport.ensureTopic({ name: topic, retention: "interest", maxMessages: 2 })
        yield* group(transport, { topic, group: uniqueGroup(), maxInFlight: 1 })
        yield* transport.publish(records(topic, 4))
        expect(yield* holds(transport, topic, 2)).toMatchObject({ firstSequence: 3, discarded: h.removed(2) })
      })
    )

    h.test("retention is chosen when a topic is created: updateTopic refuses to change it", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("interest-fixed")
        yield* transport.ensureTopic({ name: topic, retention: "interest" })
        const ensured = yield* failureOf(
          h,
          "ensureTopic with limits retention",
          transport.ensureTopic({ name: topic, retention: "limits" })
        )
        expect(ensured).toMatchObject({
          _tag: "InvalidConfig",
          differences: [{ setting: "retention", stored: "interest", asked: "limits" }]
        })
        const updated = yield* failureOf(h, "updateTopic to limits retention", transport.updateTopic({ name: topic }))
        expect(updated).toMatchObject({ _tag: "InvalidConfig", option: "retention" })
        expect(yield* transport.updateTopic({ name: topic, retention: "interest" })).toEqual([])
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
