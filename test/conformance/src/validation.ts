/**
 * What a transport refuses: names that could widen a subscription or break a
 * header, payloads over the limit, topics that were never ensured, groups that
 * do not exist. A refused operation reads and writes nothing.
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
  subscribe,
  uniqueGroup,
  uniqueTopic,
  waits
} from "./harness.ts"
import { failureOf } from "./outcome.ts"

export const validationTests = (h: Harness) => {
  const { receivedAtLeast, groupExists } = waits(h)

  /** Every operation of the port that takes a topic name, applied to `name`. */
  const topicOperations = (
    transport: Transport.Transport,
    name: string
  ): Record<string, Effect.Effect<unknown, unknown>> => ({
    ensureTopic: transport.ensureTopic({ name }),
    publish: transport.publish([record(name, "x")]),
    "subscribe to a group": Effect.scoped(transport.subscribe({ topic: name, group: "g" })),
    "subscribe as a broadcast": Effect.scoped(transport.subscribe({ topic: name })),
    lag: transport.lag(name, "g"),
    topicInfo: transport.topicInfo(name)
  })

  describe("validation", () => {
    h.test("topic names that could widen a subscription are refused with InvalidName, and no topic is touched", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const base = uniqueTopic("names")
        const neighbours = [`${base}.a`, `${base}.b`, `${base}.a.b`]
        yield* Effect.forEach(neighbours, (name) => transport.ensureTopic({ name }), { discard: true })
        const group = uniqueGroup()
        const watchers = yield* Effect.forEach(neighbours, (topic) => subscribe(transport, { topic, group }, ackEach))
        yield* Effect.forEach(neighbours, (topic) => groupExists(transport, topic, group), { discard: true })

        const invalid = [
          `${base}.>`,
          `${base}.*`,
          `${base}.*.b`,
          ">",
          "*",
          `${base}..a`,
          `${base}.`,
          `.${base}`,
          "",
          `${base}.${"a".repeat(5000)}`,
          `${base}.a\r\nPUB ${base}.b 1\r\nx`,
          `${base}.a\nb`,
          `${base}.a b`,
          `${base}.a\u0000`
        ]
        for (const name of invalid) {
          for (const [operation, effect] of Object.entries(topicOperations(transport, name))) {
            const error = yield* failureOf(h, `${operation} on ${JSON.stringify(name.slice(0, 60))}`, effect)
            expect(error, `${operation} on ${JSON.stringify(name.slice(0, 60))}`).toMatchObject({
              _tag: "InvalidName",
              kind: "topic"
            })
          }
        }
        yield* h.settle
        for (const name of neighbours) {
          expect(yield* transport.topicInfo(name)).toMatchObject({ messages: 0, lastSequence: 0 })
        }
        for (const watcher of watchers) expect(watcher.received).toEqual([])
      })
    )

    h.test("a group name that is not a single token is refused with InvalidName", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("group-names")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 2))
        for (const group of ["orders.eu", "a.>", "*", ">", "", "a b", "a\r\nb", "x".repeat(5000)]) {
          const subscribed = yield* failureOf(
            h,
            `subscribing as group ${JSON.stringify(group.slice(0, 40))}`,
            Effect.scoped(transport.subscribe({ topic, group }))
          )
          expect(subscribed).toMatchObject({ _tag: "InvalidName", kind: "group" })
          const lag = yield* failureOf(
            h,
            `lag of group ${JSON.stringify(group.slice(0, 40))}`,
            transport.lag(topic, group)
          )
          expect(lag).toMatchObject({ _tag: "InvalidName", kind: "group" })
        }
        // The messages are still there for a valid group.
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 2)
        expect(bodies(subscriber.received)).toEqual(["m-0", "m-1"])
      })
    )

    h.test(
      "a key, message id or header with a control character or whitespace around it, or a header the NATS server reads as a directive, is refused with InvalidName, and nothing of the batch is stored",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("record-names")
          yield* transport.ensureTopic({ name: topic })
          const good = (): Transport.OutgoingRecord => record(topic, "good")
          const bad: Array<[string, Transport.OutgoingRecord]> = [
            ["key", { ...good(), key: "order-1\r\nx-injected: 1" }],
            ["message id", { ...good(), id: "id\n2" }],
            ["message id", { ...good(), id: "" }],
            ["header", { ...good(), headers: { "x-note": "line\r\nx-injected: 1" } }],
            // NATS trims the whitespace around a header's value: kept on one transport, lost on another.
            ["key", { ...good(), key: "order-1 " }],
            ["message id", { ...good(), id: "\u00a0id-2" }],
            ["header", { ...good(), headers: { "x-note": " padded" } }],
            ["header", { ...good(), headers: { "bad name": "v" } }],
            ["header", { ...good(), headers: { "x:y": "v" } }],
            // On NATS, a rollup would purge a stream that allows it; refused on every transport alike.
            ["header", { ...good(), headers: { "Nats-Rollup": "all" } }],
            ["header", { ...good(), headers: { "nats-expected-stream": "elsewhere" } }]
          ]
          for (const [kind, rejected] of bad) {
            const error = yield* failureOf(
              h,
              `a publish with a bad ${kind}`,
              transport.publish([good(), rejected, good()])
            )
            expect(error).toMatchObject({ _tag: "InvalidName", kind })
          }
          expect(yield* transport.topicInfo(topic)).toMatchObject({ messages: 0, lastSequence: 0 })
        })
    )

    h.test("a payload larger than maxPayloadBytes fails with PayloadTooLarge and is not stored", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("payload-size")
        yield* transport.ensureTopic({ name: topic })
        const limit = transport.features.maxPayloadBytes
        const big: Transport.OutgoingRecord = { ...record(topic, "big"), payload: new Uint8Array(limit + 1) }
        const error = yield* failureOf(h, "an oversized publish", transport.publish([big]))
        expect(error).toMatchObject({ _tag: "PayloadTooLarge", topic, size: limit + 1, limit })
        expect(yield* transport.topicInfo(topic)).toMatchObject({ messages: 0 })
        // Half the limit is fine.
        const half: Transport.OutgoingRecord = {
          ...record(topic, "half"),
          payload: new Uint8Array(Math.floor(limit / 2)).fill(7)
        }
        yield* transport.publish([half])
        const subscriber = yield* subscribe(transport, { topic, group: uniqueGroup() }, ackEach)
        yield* receivedAtLeast(subscriber, 1)
        expect(subscriber.received[0]?.payload.byteLength).toBe(Math.floor(limit / 2))
      })
    )

    h.test("a topic that was never ensured is reported as TopicNotFound", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("missing")
        const operations = Object.entries(topicOperations(transport, topic)).filter(([op]) => op !== "ensureTopic")
        for (const [operation, effect] of operations) {
          const error = yield* failureOf(h, `${operation} on a missing topic`, effect)
          expect(error, operation).toMatchObject({ _tag: "TopicNotFound", topic })
        }
      })
    )

    h.test("lag of a group that was never created fails with GroupNotFound", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("no-group")
        yield* transport.ensureTopic({ name: topic })
        yield* transport.publish(records(topic, 1))
        const group = uniqueGroup()
        const error = yield* failureOf(h, "lag of an unknown group", transport.lag(topic, group))
        expect(error).toMatchObject({ _tag: "GroupNotFound", topic, group })
      })
    )

    h.test(
      "a subscription or topic whose options are not acceptable is refused with InvalidConfig naming the option",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("bad-options")
          yield* transport.ensureTopic({ name: topic })
          const subscriptions: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
            ["maxInFlight", { maxInFlight: 1.5 }],
            ["maxInFlight", { maxInFlight: 0 }],
            ["maxDeliveries", { maxDeliveries: 0 }],
            ["ackWait", { ackWait: "soon" }],
            ["ackWait", { ackWait: -5 }],
            ["backoff[1]", { backoff: ["1 second", Number.NaN] }],
            ["start", { start: { _tag: "Somewhere" } }],
            ["start.sequence", { start: { _tag: "Sequence", sequence: -1 } }]
          ]
          for (const [option, options] of subscriptions) {
            const error = yield* failureOf(
              h,
              `subscribe with ${option}`,
              Effect.scoped(transport.subscribe({ topic, group: uniqueGroup(), ...options }))
            )
            expect(error, option).toMatchObject({ _tag: "InvalidConfig", option })
          }
          for (const [option, config] of [
            ["maxMessages", { maxMessages: 2.5 }],
            ["maxAge", { maxAge: "a while" }],
            ["discard", { discard: "oldest" }],
            ["retention", { retention: "forever" }]
          ] as const) {
            const error = yield* failureOf(
              h,
              `ensureTopic with ${option}`,
              transport.ensureTopic({ name: topic, ...config } as never)
            )
            expect(error, option).toMatchObject({ _tag: "InvalidConfig", option })
          }
        })
    )
  })
}
