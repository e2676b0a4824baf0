/**
 * What the NATS transport creates on the server, read back with a plain
 * JetStream client: one stream per topic with the topic's settings, a durable
 * pull consumer per group with the subscription's settings, an ephemeral one
 * per broadcast subscription, gone when it closes.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType
} from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { StartPosition } from "@sluice/core"
import { Effect, Exit, Logger, Scope, Stream } from "effect"
import { afterAll } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

const server = await NatsServer.acquire()
const nc = await connect(server.connectTarget)
const jsm = await jetstreamManager(nc)
afterAll(async () => {
  await nc.close()
  await server.stop()
})

const transport = NatsTransport.make(server.connectTarget)
let counter = 0
const uniqueTopic = (label: string) => `provisioning.${Date.now().toString(36)}.${label}-${++counter}`
const streamOf = (topic: string) => topic.replaceAll(".", "~")
const NANOS_PER_MILLI = 1_000_000

describe("NatsTransport provisioning", () => {
  it.live("a topic is a stream of its own, with the topic's subject, limits, discard policy and dedup window", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const topic = uniqueTopic("settings")
      yield* nats.ensureTopic({
        name: topic,
        maxMessages: 1000,
        maxBytes: 1_000_000,
        maxAge: "1 hour",
        discard: "new",
        dedupWindow: "30 seconds"
      })
      const { config } = yield* Effect.promise(() => jsm.streams.info(streamOf(topic)))
      expect(config).toMatchObject({
        subjects: [topic],
        storage: StorageType.File,
        num_replicas: 1,
        max_msgs: 1000,
        max_bytes: 1_000_000,
        max_age: 3_600_000 * NANOS_PER_MILLI,
        discard: DiscardPolicy.New,
        duplicate_window: 30_000 * NANOS_PER_MILLI
      })
    })
  )

  it.live("a topic's retention is its stream's: limits by default, interest when asked", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const limits = uniqueTopic("limits")
      const interest = uniqueTopic("interest")
      yield* nats.ensureTopic({ name: limits })
      yield* nats.ensureTopic({ name: interest, retention: "interest" })
      const retention = (topic: string) =>
        Effect.promise(() => jsm.streams.info(streamOf(topic))).pipe(Effect.map((info) => info.config.retention))
      expect(yield* retention(limits)).toBe(RetentionPolicy.Limits)
      expect(yield* retention(interest)).toBe(RetentionPolicy.Interest)
    })
  )

  it.live("the dedup window never exceeds the max age, as JetStream requires", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const topic = uniqueTopic("short-age")
      yield* nats.ensureTopic({ name: topic, maxAge: "10 seconds" })
      const { config } = yield* Effect.promise(() => jsm.streams.info(streamOf(topic)))
      expect(config.duplicate_window).toBe(10_000 * NANOS_PER_MILLI)
    })
  )

  it.live("ensuring a topic again changes nothing on its stream; updateTopic updates it", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const topic = uniqueTopic("update")
      yield* nats.ensureTopic({ name: topic, maxMessages: 10 })
      const created = yield* Effect.promise(() => jsm.streams.info(streamOf(topic)))
      yield* nats.ensureTopic({ name: topic, maxMessages: 10 })
      yield* nats.ensureTopic({ name: topic })
      yield* Effect.flip(nats.ensureTopic({ name: topic, maxMessages: 20 }))
      const again = yield* Effect.promise(() => jsm.streams.info(streamOf(topic)))
      expect(again.created).toBe(created.created)
      expect(again.config).toEqual(created.config)
      yield* nats.updateTopic({ name: topic, maxMessages: 20 })
      const updated = yield* Effect.promise(() => jsm.streams.info(streamOf(topic)))
      expect(updated.config.max_msgs).toBe(20)
    })
  )

  it.live("a topic stored by another storage is refused by name, and cannot be moved by updateTopic", () =>
    Effect.gen(function* () {
      const topic = uniqueTopic("other-storage")
      yield* (yield* transport).ensureTopic({ name: topic })
      const inMemory = yield* NatsTransport.make({ ...server.connectTarget, storage: "memory" })
      const ensured = yield* Effect.flip(inMemory.ensureTopic({ name: topic }))
      expect(ensured).toMatchObject({
        _tag: "InvalidConfig",
        differences: [{ setting: "storage", stored: "file", asked: "memory" }]
      })
      const updated = yield* Effect.flip(inMemory.updateTopic({ name: topic }))
      expect(updated).toMatchObject({ _tag: "InvalidConfig", option: "storage" })
      const { config } = yield* Effect.promise(() => jsm.streams.info(streamOf(topic)))
      expect(config.storage).toBe(StorageType.File)
    })
  )

  it.live("a stream of the same name that serves other subjects is refused with InvalidConfig, and left alone", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const topic = uniqueTopic("taken")
      yield* Effect.promise(() => jsm.streams.add({ name: streamOf(topic), subjects: [`${topic}.other`] }))
      const error = yield* Effect.flip(nats.ensureTopic({ name: topic }))
      expect(error._tag).toBe("InvalidConfig")
      expect(error.message).toContain("serves other subjects")
      const { config } = yield* Effect.promise(() => jsm.streams.info(streamOf(topic)))
      expect(config.subjects).toEqual([`${topic}.other`])
    })
  )

  it.live("replicas a single server cannot keep are refused with InvalidConfig, not reported as a passing outage", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const error = yield* Effect.flip(nats.ensureTopic({ name: uniqueTopic("replicas"), replicas: 3 }))
      expect(error._tag).toBe("InvalidConfig")
      expect(error.message).toContain("replicas")
    })
  )

  it.live("settings the server refuses by its error code are InvalidConfig: another stream's subject", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const taken = uniqueTopic("overlap")
      yield* Effect.promise(() => jsm.streams.add({ name: `${streamOf(taken)}-other`, subjects: [taken] }))
      const overlap = yield* Effect.flip(nats.ensureTopic({ name: taken }))
      expect(overlap._tag).toBe("InvalidConfig")
      expect(overlap.message).toContain("subjects overlap")
    })
  )

  it.live("a group is a durable pull consumer with explicit ack and the subscription's bounds and timings", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const topic = uniqueTopic("group")
      yield* nats.ensureTopic({ name: topic })
      yield* nats.subscribe({
        topic,
        group: "billing",
        start: StartPosition.sequence(5),
        maxInFlight: 100,
        maxDeliveries: 7,
        backoff: ["1 second", "5 seconds"]
      })
      const info = yield* Effect.promise(() => jsm.consumers.info(streamOf(topic), "billing"))
      expect(info.config).toMatchObject({
        durable_name: "billing",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: 5,
        max_deliver: 7,
        // JetStream makes the first backoff entry the ack wait.
        ack_wait: 1000 * NANOS_PER_MILLI,
        backoff: [1000 * NANOS_PER_MILLI, 5000 * NANOS_PER_MILLI],
        max_ack_pending: 100 * 64
      })
      expect(info.config.deliver_subject).toBeUndefined()
    })
  )

  describe("a group name taken by a consumer Sluice cannot use is a Conflict, and the consumer is left alone", () => {
    /** Creates `config` as the group's consumer with a plain client, subscribes, and checks the outcome. */
    const taken = (
      label: string,
      config: (topic: string) => Partial<ConsumerConfig>,
      reason: RegExp,
      subjects?: (topic: string) => Array<string>
    ) =>
      Effect.gen(function* () {
        const nats = yield* transport
        const topic = uniqueTopic(label)
        if (subjects === undefined) yield* nats.ensureTopic({ name: topic })
        else yield* Effect.promise(() => jsm.streams.add({ name: streamOf(topic), subjects: subjects(topic) }))
        yield* Effect.promise(() => jsm.consumers.add(streamOf(topic), { durable_name: "billing", ...config(topic) }))
        const before = yield* Effect.promise(() => jsm.consumers.info(streamOf(topic), "billing"))
        const error = yield* Effect.flip(Effect.scoped(nats.subscribe({ topic, group: "billing" })))
        expect(error).toMatchObject({
          _tag: "Conflict",
          operation: "subscribe",
          topic,
          group: "billing",
          server: expect.stringContaining(`:${server.port}`)
        })
        expect(error.message).toMatch(reason)
        const after = yield* Effect.promise(() => jsm.consumers.info(streamOf(topic), "billing"))
        expect(after.config).toEqual(before.config)
      })

    it.live("a push consumer", () =>
      taken(
        "push",
        () => ({ ack_policy: AckPolicy.Explicit, deliver_subject: "elsewhere" }),
        /push consumer.*"elsewhere"/
      )
    )

    it.live("a consumer with another ack policy", () =>
      taken("ack-none", () => ({ ack_policy: AckPolicy.None }), /ack policy "none"/)
    )

    it.live("a consumer of another subject of the stream", () =>
      taken(
        "filtered",
        (topic) => ({ ack_policy: AckPolicy.Explicit, filter_subject: `${topic}-other` }),
        /other subjects/,
        (topic) => [topic, `${topic}-other`]
      )
    )
  })

  it.live("a consumer of the group's name that reads its topic through a wildcard is joined", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const topic = uniqueTopic("wildcard")
      yield* nats.ensureTopic({ name: topic })
      yield* Effect.promise(() =>
        jsm.consumers.add(streamOf(topic), {
          durable_name: "billing",
          ack_policy: AckPolicy.Explicit,
          filter_subject: `${topic.split(".").slice(0, -1).join(".")}.>`
        })
      )
      yield* Effect.scoped(nats.subscribe({ topic, group: "billing" }))
    })
  )

  it.live(
    "a group's bound on unsettled messages grows to fit a member with a larger maxInFlight, logged, and never shrinks",
    () =>
      Effect.gen(function* () {
        const nats = yield* transport
        const topic = uniqueTopic("max-ack-pending")
        yield* nats.ensureTopic({ name: topic })
        const maxAckPending = () =>
          Effect.promise(() => jsm.consumers.info(streamOf(topic), "billing")).pipe(
            Effect.map((info) => info.config.max_ack_pending)
          )
        yield* Effect.scoped(nats.subscribe({ topic, group: "billing", maxInFlight: 4 }))
        expect(yield* maxAckPending()).toBe(4 * 64)
        yield* Effect.scoped(nats.subscribe({ topic, group: "billing", maxInFlight: 1 }))
        expect(yield* maxAckPending()).toBe(4 * 64)
        const lines: Array<unknown> = []
        yield* Effect.scoped(nats.subscribe({ topic, group: "billing", maxInFlight: 10 })).pipe(
          Effect.provide(Logger.layer([Logger.make((options) => lines.push(options.message))]))
        )
        expect(yield* maxAckPending()).toBe(10 * 64)
        expect(String(lines)).toContain(`max_ack_pending changed from ${4 * 64} to ${10 * 64}`)
      })
  )

  it.live("updateGroup sets the consumer's ack wait, backoff and max deliveries, and removes a backoff", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const topic = uniqueTopic("update-group")
      yield* nats.ensureTopic({ name: topic })
      yield* Effect.scoped(
        nats.subscribe({ topic, group: "billing", backoff: ["1 second", "5 seconds"], maxDeliveries: 7 })
      )
      yield* nats.updateGroup(topic, "billing", { ackWait: "10 seconds" })
      const { config } = yield* Effect.promise(() => jsm.consumers.info(streamOf(topic), "billing"))
      expect(config).toMatchObject({ ack_wait: 10_000 * NANOS_PER_MILLI, max_deliver: -1 })
      expect(config.backoff).toBeUndefined()
    })
  )

  it.live("a broadcast subscription is an ephemeral consumer from now on, deleted when the subscription closes", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      const topic = uniqueTopic("broadcast")
      yield* nats.ensureTopic({ name: topic })
      const consumers = () =>
        Effect.promise(async () => {
          const found = []
          for await (const info of jsm.consumers.list(streamOf(topic))) found.push(info)
          return found
        })
      const scope = yield* Scope.make()
      const stream = yield* nats.subscribe({ topic }).pipe(Scope.provide(scope))
      const [ephemeral] = yield* consumers()
      expect(ephemeral?.config).toMatchObject({ ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New })
      expect(ephemeral?.config.durable_name).toBeUndefined()
      expect(Stream.isStream(stream)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(yield* consumers()).toEqual([])
    })
  )

  it.live("the payload limit is the server's max_payload less room for headers", () =>
    Effect.gen(function* () {
      const nats = yield* transport
      expect(nats.features.maxPayloadBytes).toBe((nc.info?.max_payload ?? 0) - 4096)
      expect(nats.features).toMatchObject({ name: "nats", durable: true, virtualTime: false, countsRemovals: false })
    })
  )
})
