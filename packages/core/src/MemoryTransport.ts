/**
 * The embedded broker: a real broker in the process, not a mock. Append-only log per topic with retention
 * limits, interest retention and a dedup window, consumer groups with cursors, pending acks, ack-wait
 * redelivery, delayed nak, term, max deliveries, broadcast subscriptions and start positions.
 *
 * Invariant: it passes the same conformance suite as every transport, and its time follows the Effect
 * `Clock`, so `TestClock` drives every time-based behaviour.
 *
 * Why: tests and development need no server, and time-based behaviour is checked in virtual time.
 */
import { type Cause, Clock, Deferred, Duration, Effect, Exit, Layer, Queue, Result, type Scope, Stream } from "effect"
import {
  GroupNotFound,
  type InvalidConfig,
  type InvalidName,
  PartiallyPublished,
  type PublishError,
  TopicFull,
  TopicNotFound,
  type TransportError
} from "./errors.ts"
import { Group, type GroupHost, Member, policyOf } from "./internal/memory/Group.ts"
import { TopicLog } from "./internal/memory/TopicLog.ts"
import { count, firstProblem, object } from "./internal/options.ts"
import {
  type Delivery,
  type GroupConfig,
  type GroupSettings,
  type OutgoingRecord,
  type PublishReceipt,
  type SettingDifference,
  type SubscriptionOptions,
  type TopicConfig,
  type Transport,
  type TransportFeatures,
  TransportService,
  type TransportStatus,
  type UpdateTopicOptions
} from "./Transport.ts"
import * as TransportChecks from "./TransportChecks.ts"
import * as TransportDefaults from "./TransportDefaults.ts"

/** Options of {@link make}. */
export interface MemoryTransportOptions {
  /** Largest payload accepted, in bytes. Default 1 MiB, as NATS. */
  readonly maxPayloadBytes?: number
}

const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

/** What the memory broker offers, with the default payload limit. */
export const features: TransportFeatures = {
  name: "memory",
  durable: false,
  virtualTime: true,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  countsRemovals: true
}

/** The receipts of a batch stopped part-way: those of the records stored, `undefined` for the rest. */
const stoppedAt = (
  receipts: ReadonlyArray<PublishReceipt>,
  records: ReadonlyArray<OutgoingRecord>
): ReadonlyArray<PublishReceipt | undefined> => records.map((_, i) => receipts[i])

/** Starts a memory broker that lives as long as the scope. */
export const make = (options: MemoryTransportOptions = {}): Effect.Effect<Transport, InvalidConfig, Scope.Scope> =>
  Effect.gen(function* () {
    const problem = firstProblem(object("options", options), count("maxPayloadBytes", options.maxPayloadBytes))
    if (problem !== undefined) return yield* Effect.fail(problem)
    const clock = yield* Clock.Clock
    // Connected from the start, closed when the scope closes: the last finalizer to run, after the rest.
    const closed = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(closed, undefined))
    const status: Stream.Stream<TransportStatus> = Stream.unwrap(
      Effect.map(Deferred.isDone(closed), (done) =>
        done
          ? Stream.succeed<TransportStatus>("closed")
          : Stream.concat(
              Stream.succeed<TransportStatus>("connected"),
              Stream.fromEffect(Effect.as(Deferred.await(closed), "closed" as const))
            )
      )
    )
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES
    const topics = new Map<string, TopicState>()
    const active = new Set<Group>()

    // One timer for the whole broker: it sleeps until the earliest ack wait or
    // nak delay, and is woken when a nearer deadline appears.
    const wake = yield* Queue.dropping<void>(1)
    let timerTarget = Number.POSITIVE_INFINITY
    const host: GroupHost = {
      now: () => clock.currentTimeMillisUnsafe(),
      deadline: (at) => {
        if (at < timerTarget) {
          timerTarget = at
          Queue.offerUnsafe(wake, undefined)
        }
      }
    }
    const timer = Effect.gen(function* () {
      for (;;) {
        const now = clock.currentTimeMillisUnsafe()
        timerTarget = Number.POSITIVE_INFINITY
        let next = Number.POSITIVE_INFINITY
        for (const group of active) next = Math.min(next, group.tick(now))
        timerTarget = Math.min(timerTarget, next)
        if (timerTarget === Number.POSITIVE_INFINITY) yield* Queue.take(wake)
        else yield* Effect.raceFirst(clock.sleep(Duration.millis(timerTarget - now)), Queue.take(wake))
      }
    })
    yield* Effect.forkScoped(timer)

    const topicOf = (name: string): Result.Result<TopicState, InvalidName | TopicNotFound> => {
      const topic = topics.get(name)
      if (topic !== undefined) return Result.succeed(topic)
      const valid = TransportChecks.topicName(name)
      return Result.fail(Result.isFailure(valid) ? valid.failure : new TopicNotFound({ topic: name }))
    }

    const ensureTopic = (config: TopicConfig): Effect.Effect<void, InvalidName | InvalidConfig> =>
      Effect.gen(function* () {
        yield* Effect.fromResult(TransportChecks.topicName(config.name))
        yield* Effect.fromResult(TransportChecks.topicConfig(config))
        const existing = topics.get(config.name)
        if (existing !== undefined)
          return yield* Effect.fromResult(TransportChecks.sameTopic(existing.log.settings, config))
        const log = new TopicLog(config.name, TransportDefaults.topicSettingsOf(config))
        topics.set(config.name, { log, groups: new Map(), broadcasts: new Set() })
      })

    const updateTopic = (
      config: TopicConfig,
      options?: UpdateTopicOptions
    ): Effect.Effect<ReadonlyArray<SettingDifference>, InvalidName | InvalidConfig | TopicNotFound> =>
      Effect.gen(function* () {
        yield* Effect.fromResult(TransportChecks.updateOptions(options))
        yield* Effect.fromResult(TransportChecks.topicName(config.name))
        yield* Effect.fromResult(TransportChecks.topicConfig(config))
        const { log, groups, broadcasts } = yield* Effect.fromResult(topicOf(config.name))
        const now = clock.currentTimeMillisUnsafe()
        log.expire(now)
        const wanted = TransportDefaults.topicSettingsOf(config)
        const changes = TransportChecks.topicDifferences(log.settings, wanted)
        if (changes.length === 0) return changes
        yield* Effect.fromResult(
          TransportChecks.updatable(config.name, log.held(), wanted, changes, options?.allowDiscard, now)
        )
        log.configure(wanted, now)
        for (const group of groups.values()) group.pump()
        for (const group of broadcasts) group.pump()
        yield* TransportChecks.logChanges(changes, { topic: config.name })
        return changes
      })

    const publish = (records: ReadonlyArray<OutgoingRecord>) =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<PublishReceipt>, PublishError> => {
        const now = clock.currentTimeMillisUnsafe()
        const receipts: Array<PublishReceipt> = []
        const touched = new Set<TopicState>()
        // Every record is checked before any is stored; records stored before a full
        // topic stopped the batch are delivered all the same.
        const deliver = () => {
          for (const topic of touched) {
            for (const group of topic.groups.values()) group.pump()
            for (const group of topic.broadcasts) group.pump()
          }
        }
        const targets: Array<TopicState> = []
        for (const record of records) {
          const topic = topicOf(record.topic)
          if (Result.isFailure(topic)) return Effect.fail(topic.failure)
          const rejected = TransportChecks.record(record, maxPayloadBytes)
          if (rejected !== undefined) return Effect.fail(rejected)
          targets.push(topic.success)
        }
        for (let i = 0; i < records.length; i++) {
          const record = records[i] as OutgoingRecord
          const topic = targets[i] as TopicState
          const { log } = topic
          log.expire(now)
          const receipt = log.append(record, now)
          if (typeof receipt === "string") {
            deliver()
            const full = new TopicFull({ topic: record.topic, limit: receipt })
            return Effect.fail(
              i === 0
                ? full
                : new PartiallyPublished({ topic: record.topic, receipts: stoppedAt(receipts, records), cause: full })
            )
          }
          receipts.push(receipt)
          touched.add(topic)
        }
        deliver()
        return Effect.succeed(receipts)
      })

    const subscribe = (
      options: SubscriptionOptions
    ): Effect.Effect<Stream.Stream<Delivery>, TransportError, Scope.Scope> =>
      Effect.gen(function* () {
        const { log, groups, broadcasts } = yield* Effect.fromResult(topicOf(options.topic))
        if (options.group !== undefined) yield* Effect.fromResult(TransportChecks.groupName(options.group))
        yield* Effect.fromResult(TransportChecks.subscription(options))
        log.expire(clock.currentTimeMillisUnsafe())
        const queue = yield* Queue.unbounded<Delivery, Cause.Done>()
        const member = new Member(queue, TransportDefaults.maxInFlightOf(options))
        yield* Effect.acquireRelease(
          Effect.suspend(() => {
            const existing = options.group === undefined ? undefined : groups.get(options.group)
            if (existing !== undefined) {
              const same = TransportChecks.sameGroup(log.name, options.group as string, settingsOf(existing), options)
              if (Result.isFailure(same)) return Effect.fail(same.failure)
              existing.join(member)
              return Effect.succeed(existing)
            }
            const created = new Group(log, TransportDefaults.startOf(options), policyOf(options), host)
            if (options.group === undefined) broadcasts.add(created)
            else groups.set(options.group, created)
            active.add(created)
            created.join(member)
            return Effect.succeed(created)
          }),
          (group) =>
            Effect.sync(() => {
              // The stream ends, and what it never emitted goes back, in one step: the group hands this
              // member nothing in between.
              Queue.endUnsafe(queue)
              const unemitted: Array<Delivery> = []
              let taken = Queue.takeUnsafe(queue)
              while (taken !== undefined && Exit.isSuccess(taken)) {
                unemitted.push(taken.value)
                taken = Queue.takeUnsafe(queue)
              }
              group.leave(member, unemitted)
              if (options.group === undefined) {
                group.dispose()
                broadcasts.delete(group)
                active.delete(group)
              }
            })
        )
        return Stream.fromQueue(queue)
      })

    const groupOf = (topicName: string, groupName: string): Effect.Effect<Group, TransportError> =>
      Effect.gen(function* () {
        const topic = yield* Effect.fromResult(topicOf(topicName))
        yield* Effect.fromResult(TransportChecks.groupName(groupName))
        const group = topic.groups.get(groupName)
        if (group === undefined) return yield* new GroupNotFound({ topic: topicName, group: groupName })
        topic.log.expire(clock.currentTimeMillisUnsafe())
        return group
      })

    const updateGroup = (
      topicName: string,
      groupName: string,
      config: GroupConfig
    ): Effect.Effect<ReadonlyArray<SettingDifference>, TransportError> =>
      Effect.gen(function* () {
        const group = yield* groupOf(topicName, groupName)
        yield* Effect.fromResult(TransportChecks.subscription({ ...config, topic: topicName }))
        const changes = TransportChecks.groupDifferences(settingsOf(group), TransportDefaults.groupSettingsOf(config))
        if (changes.length === 0) return changes
        group.configure(policyOf(config))
        yield* TransportChecks.logChanges(changes, { topic: topicName, group: groupName })
        return changes
      })

    return {
      features: { ...features, maxPayloadBytes },
      status,
      ensureTopic,
      updateTopic,
      publish,
      subscribe,
      updateGroup,
      lag: (topic, group) => Effect.map(groupOf(topic, group), (found) => found.lag()),
      topicInfo: (name) =>
        Effect.gen(function* () {
          const { log } = yield* Effect.fromResult(topicOf(name))
          log.expire(clock.currentTimeMillisUnsafe())
          return log.info()
        })
    } satisfies Transport
  })

/** A group's policy as the port's settings. */
const settingsOf = (group: Group): GroupSettings => {
  const { ackWaitMs, maxDeliveries } = group.settings
  return { ackWaits: ackWaitMs, maxDeliveries: Number.isFinite(maxDeliveries) ? maxDeliveries : undefined }
}

interface TopicState {
  readonly log: TopicLog
  readonly groups: Map<string, Group>
  /** Broadcast subscriptions: a group each, gone when the subscription closes. */
  readonly broadcasts: Set<Group>
}

/** The memory broker as the `TransportService` of a layer. */
export const layer = (options: MemoryTransportOptions = {}): Layer.Layer<TransportService, InvalidConfig> =>
  Layer.effect(TransportService, make(options))
