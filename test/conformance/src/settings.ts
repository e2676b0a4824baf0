/**
 * Settings of topics and groups that exist: never changed by surprise. Ensuring a topic or joining a group
 * with other settings is refused, naming every difference; a setting left out is no requirement; an update
 * is the one way to change them, logged, and it removes no stored message unless allowed to.
 */
import { describe, expect } from "@effect/vitest"
import { Bus, Topic, type Transport } from "@sluice/core"
import { Effect, Logger, Schema } from "effect"
import { type Harness, record, records, subscribe, uniqueGroup, uniqueTopic, waits } from "./harness.ts"
import { failureOf } from "./outcome.ts"

/** Runs `effect` with a logger that keeps each line's text, and returns them with its result. */
const withLogLines = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const collector = Logger.make((options) => {
      const message = options.message
      lines.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
    })
    const result = yield* effect.pipe(Effect.provide(Logger.layer([collector])))
    return { result, lines }
  })

export const settingsTests = (h: Harness) => {
  const { receivedAtLeast, receivedSuch, groupExists } = waits(h)

  describe("topic settings", () => {
    h.test(
      "ensureTopic of an existing topic with other settings is refused with InvalidConfig naming every difference, and changes nothing",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("other-settings")
          yield* transport.ensureTopic({ name: topic, maxMessages: 500, maxAge: "1 hour", discard: "old", replicas: 1 })
          yield* transport.publish(records(topic, 150))
          const error = yield* failureOf(
            h,
            "ensureTopic with other settings",
            transport.ensureTopic({
              name: topic,
              maxMessages: 100,
              maxAge: 3_600_000,
              discard: "new",
              dedupWindow: "30 seconds",
              replicas: 2,
              retention: "interest"
            })
          )
          expect(error).toMatchObject({
            _tag: "InvalidConfig",
            option: "maxMessages",
            differences: [
              { setting: "maxMessages", stored: "500", asked: "100" },
              { setting: "discard", stored: "old", asked: "new" },
              { setting: "dedupWindow", stored: "2m", asked: "30s" },
              { setting: "replicas", stored: "1", asked: "2" },
              { setting: "retention", stored: "limits", asked: "interest" }
            ]
          })
          expect(error.message).toContain(topic)
          expect(error.message).toContain("maxMessages is 500, 100 asked")
          // Nothing was cut: the topic still keeps up to 500 messages.
          yield* transport.publish(records(topic, 150, "more"))
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({ messages: 300, firstSequence: 1, discarded: 0 })
        })
    )

    h.test(
      "ensureTopic that leaves settings out takes the topic as it is: a definition without limits does not fight the one that set them",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("left-out")
          yield* transport.ensureTopic({ name: topic, maxMessages: 3, discard: "new", dedupWindow: "1 minute" })
          yield* transport.ensureTopic({ name: topic })
          yield* transport.ensureTopic({ name: topic, maxMessages: 3 })
          yield* transport.ensureTopic({ name: topic, discard: "new", dedupWindow: 60_000 })
          yield* transport.publish(records(topic, 3))
          const full = yield* failureOf(h, "a publish to the full topic", transport.publish([record(topic, "fourth")]))
          expect(full).toMatchObject({ _tag: "TopicFull", limit: "messages" })
        })
    )

    h.test("a dedup window is compared as the topic keeps it, never longer than its max age", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("window-age")
        yield* transport.ensureTopic({ name: topic, maxAge: "10 seconds" })
        yield* transport.ensureTopic({ name: topic, dedupWindow: "2 minutes" })
        yield* transport.ensureTopic({ name: topic, maxAge: "10 seconds", dedupWindow: "10 seconds" })
        const error = yield* failureOf(
          h,
          "ensureTopic with a shorter dedup window",
          transport.ensureTopic({ name: topic, dedupWindow: "5 seconds" })
        )
        expect(error).toMatchObject({
          _tag: "InvalidConfig",
          differences: [{ setting: "dedupWindow", stored: "10s", asked: "5s" }]
        })
      })
    )

    h.test(
      "updateTopic makes the settings those of the config, an absent one its default, and returns and logs each change",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("update")
          yield* transport.ensureTopic({ name: topic, maxMessages: 10, discard: "new", dedupWindow: "1 minute" })
          yield* transport.publish(records(topic, 3))
          const { result: changes, lines } = yield* withLogLines(
            transport.updateTopic({ name: topic, maxMessages: 20, maxAge: "1 hour" })
          )
          expect(changes).toEqual([
            { setting: "maxMessages", stored: "10", asked: "20" },
            { setting: "maxAge", stored: "none", asked: "1h" },
            { setting: "discard", stored: "new", asked: "old" },
            { setting: "dedupWindow", stored: "1m", asked: "2m" }
          ])
          expect(lines).toHaveLength(4)
          for (const [i, change] of changes.entries()) {
            expect(lines[i]).toContain(topic)
            expect(lines[i]).toContain(`${change.setting} changed from ${change.stored} to ${change.asked}`)
          }
          // The new settings stand: a definition with the old ones is refused now, one with the new ones is not.
          yield* transport.ensureTopic({ name: topic, maxMessages: 20, maxAge: "1 hour", discard: "old" })
          const old = yield* failureOf(
            h,
            "ensureTopic with the old settings",
            transport.ensureTopic({ name: topic, maxMessages: 10 })
          )
          expect(old).toMatchObject({ _tag: "InvalidConfig", option: "maxMessages" })
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({ messages: 3, discarded: 0 })
          const again = yield* withLogLines(transport.updateTopic({ name: topic, maxMessages: 20, maxAge: 3_600_000 }))
          expect(again).toEqual({ result: [], lines: [] })
        })
    )

    h.test(
      "updateTopic that would remove stored messages is refused and changes nothing, unless allowDiscard, which removes the oldest",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("update-discard")
          yield* transport.ensureTopic({ name: topic })
          yield* transport.publish(records(topic, 10))
          for (const config of [{ maxMessages: 4 }, { maxBytes: 8 }, { maxMessages: 5, maxBytes: 1_000_000 }]) {
            const error = yield* failureOf(
              h,
              `updateTopic with ${JSON.stringify(config)}`,
              transport.updateTopic({ name: topic, ...config })
            )
            expect(error, JSON.stringify(config)).toMatchObject({
              _tag: "InvalidConfig",
              option: Object.keys(config)[0]
            })
            expect(error.message).toContain("allowDiscard")
          }
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({ messages: 10, firstSequence: 1 })
          // Raising a limit, or one the topic is within, removes nothing and needs no permission.
          yield* transport.updateTopic({ name: topic, maxMessages: 10 })
          const changes = yield* transport.updateTopic({ name: topic, maxMessages: 4 }, { allowDiscard: true })
          expect(changes).toEqual([{ setting: "maxMessages", stored: "10", asked: "4" }])
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({
            messages: 4,
            firstSequence: 7,
            lastSequence: 10,
            discarded: h.removed(6)
          })
          const group = yield* subscribe(transport, { topic, group: uniqueGroup() }, (delivery) => delivery.ack)
          yield* receivedAtLeast(group, 4)
          yield* h.settle
          expect(group.received.map((d) => d.sequence)).toEqual([7, 8, 9, 10])
        })
    )

    h.test(
      "updateTopic to a max age shorter than the oldest message's is refused unless allowDiscard, which expires them",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("update-age")
          yield* transport.ensureTopic({ name: topic })
          yield* transport.publish(records(topic, 2, "old"))
          yield* h.advance("1500 millis")
          yield* transport.publish(records(topic, 1, "new"))
          const error = yield* failureOf(
            h,
            "updateTopic with a max age the old messages exceed",
            transport.updateTopic({ name: topic, maxAge: "1 second" })
          )
          expect(error).toMatchObject({ _tag: "InvalidConfig", option: "maxAge" })
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({ messages: 3 })
          // An age every message is within removes nothing.
          yield* transport.updateTopic({ name: topic, maxAge: "1 hour" })
          yield* transport.updateTopic({ name: topic, maxAge: "1 second" }, { allowDiscard: true })
          yield* h.eventually(
            "the old messages to expire",
            Effect.map(transport.topicInfo(topic), (info) => info.firstSequence === 3)
          )
          expect(yield* h.topicInfo(transport, topic)).toMatchObject({ expired: h.removed(2) })
        })
    )

    h.test("updateTopic of a topic that does not exist fails with TopicNotFound; bad options with InvalidConfig", () =>
      Effect.gen(function* () {
        const transport = yield* h.make
        const topic = uniqueTopic("update-missing")
        expect(
          yield* failureOf(h, "updateTopic of a missing topic", transport.updateTopic({ name: topic }))
        ).toMatchObject({ _tag: "TopicNotFound", topic })
        yield* transport.ensureTopic({ name: topic })
        const bad = yield* failureOf(
          h,
          "updateTopic with allowDiscard not a boolean",
          transport.updateTopic({ name: topic }, { allowDiscard: "yes" } as never)
        )
        expect(bad).toMatchObject({ _tag: "InvalidConfig", option: "allowDiscard" })
        const limit = yield* failureOf(
          h,
          "updateTopic with a bad limit",
          transport.updateTopic({ name: topic, maxMessages: 0 })
        )
        expect(limit).toMatchObject({ _tag: "InvalidConfig", option: "maxMessages" })
      })
    )
  })

  describe("group settings", () => {
    h.test(
      "joining an existing group with another ack wait, backoff or max deliveries is refused with InvalidConfig naming each, and the group keeps its settings",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("group-settings")
          const group = uniqueGroup()
          yield* transport.ensureTopic({ name: topic })
          const first = yield* subscribe(transport, { topic, group, ackWait: "1 second", maxDeliveries: 3 })
          yield* groupExists(transport, topic, group)
          const refusals: ReadonlyArray<readonly [Omit<Transport.SubscriptionOptions, "topic">, unknown]> = [
            [
              { ackWait: "2 seconds", maxDeliveries: 4 },
              [
                { setting: "ackWait", stored: "1s", asked: "2s" },
                { setting: "maxDeliveries", stored: "3", asked: "4" }
              ]
            ],
            [{ backoff: ["1 second", "2 seconds"] }, [{ setting: "backoff", stored: "1s", asked: "[1s, 2s]" }]],
            [{ maxDeliveries: 3, ackWait: "30 seconds" }, [{ setting: "ackWait", stored: "1s", asked: "30s" }]]
          ]
          for (const [options, differences] of refusals) {
            const error = yield* failureOf(
              h,
              `joining with ${JSON.stringify(options)}`,
              Effect.scoped(transport.subscribe({ topic, group, ...options }))
            )
            expect(error, JSON.stringify(options)).toMatchObject({ _tag: "InvalidConfig", differences })
            expect(error.message).toContain(group)
            expect(error.message).toContain("updateGroup")
          }
          // Members that leave the settings out, give the same ones, or another maxInFlight (a member's own) join.
          yield* Effect.scoped(transport.subscribe({ topic, group, ackWait: 1000, backoff: ["1 second"] }))
          yield* Effect.scoped(transport.subscribe({ topic, group, maxDeliveries: 3, maxInFlight: 7 }))
          yield* first.close
          // Closed subscriptions' pulls take messages (and hand them back) until they expire (NATS: 3 s): each
          // costs a delivery, and the group allows 3.
          yield* h.advance("4 seconds")
          // The group still redelivers after 1 second, as it was created to.
          const member = yield* subscribe(transport, { topic, group })
          yield* transport.publish([record(topic, "held")])
          yield* receivedAtLeast(member, 1)
          yield* h.advance("1500 millis")
          yield* receivedSuch(member, "the redelivery after the group's 1 s ack wait", (received) =>
            received.some((d) => d.deliveryCount === 2)
          )
        })
    )

    h.test(
      "updateGroup changes a group's settings, an absent one to its default, and returns and logs each change",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const topic = uniqueTopic("update-group")
          const group = uniqueGroup()
          yield* transport.ensureTopic({ name: topic })
          yield* Effect.scoped(
            transport.subscribe({ topic, group, backoff: ["1 second", "2 seconds"], maxDeliveries: 3 })
          )
          const { result: changes, lines } = yield* withLogLines(
            transport.updateGroup(topic, group, { ackWait: "2 seconds" })
          )
          expect(changes).toEqual([
            { setting: "backoff", stored: "[1s, 2s]", asked: "2s" },
            { setting: "maxDeliveries", stored: "3", asked: "none" }
          ])
          expect(lines).toHaveLength(2)
          for (const line of lines) {
            expect(line).toContain(topic)
            expect(line).toContain(group)
          }
          yield* Effect.scoped(transport.subscribe({ topic, group, ackWait: "2 seconds" }))
          const old = yield* failureOf(
            h,
            "joining with the old settings",
            Effect.scoped(transport.subscribe({ topic, group, maxDeliveries: 3 }))
          )
          expect(old).toMatchObject({ _tag: "InvalidConfig", option: "maxDeliveries" })
          expect(yield* transport.updateGroup(topic, group, { ackWait: 2000 })).toEqual([])
          const missing = uniqueGroup()
          expect(
            yield* failureOf(h, "updateGroup of a missing group", transport.updateGroup(topic, missing, {}))
          ).toMatchObject({ _tag: "GroupNotFound", topic, group: missing })
        })
    )
  })

  describe("settings through the Bus", () => {
    const Job = Schema.Struct({ n: Schema.Number })

    h.test(
      "a second definition of a topic with other settings is refused, as is a consumer whose ack wait differs from its group's, until updated",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          const name = uniqueTopic("bus-settings")
          const producer = Topic.make({ name, schema: Job, maxMessages: 500 })
          const tighter = Topic.make({ name, schema: Job, maxMessages: 100 })
          const consumerSide = Topic.make({ name, schema: Job })
          yield* bus.publish(producer, { n: 1 })
          yield* bus.publish(consumerSide, { n: 2 })
          const refused = yield* failureOf(h, "publishing with other limits", bus.publish(tighter, { n: 3 }))
          expect(refused).toMatchObject({ _tag: "InvalidConfig", option: "maxMessages" })
          expect(yield* bus.updateTopic(tighter)).toEqual([{ setting: "maxMessages", stored: "500", asked: "100" }])
          yield* bus.publish(tighter, { n: 3 })

          const group = uniqueGroup()
          yield* bus.consume(consumerSide, { group, ackWait: "30 seconds" }, () => Effect.void)
          const other = yield* failureOf(
            h,
            "a consumer with another ack wait",
            bus.consume(consumerSide, { group, ackWait: "1 minute" }, () => Effect.void)
          )
          expect(other).toMatchObject({ _tag: "InvalidConfig", option: "ackWait" })
          expect(yield* bus.updateGroup(consumerSide, group, { ackWait: "1 minute" })).toEqual([
            { setting: "ackWait", stored: "30s", asked: "1m" }
          ])
          yield* bus.consume(consumerSide, { group, ackWait: "1 minute" }, () => Effect.void)
        })
    )
  })
}
