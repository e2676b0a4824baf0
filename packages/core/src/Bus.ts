/**
 * The Bus: the typed face of a transport, as an Effect service. It publishes values of a topic with
 * confirmation, emits them decoded to settle yourself, and runs consumers that acknowledge a message only
 * after its handler succeeded.
 *
 * Invariant: every method checks its options before it touches the transport, and ensures a topic (and its
 * dead-letter topic) before it first uses it.
 *
 * Why: this module holds the service, its options and the wiring only; publishing and the consumer runtime
 * are modules of their own, so that each can be read and changed alone.
 */
import { Context, Duration, Effect, Layer, Schedule, Scheduler, type Scope, Stream } from "effect"
import type { ConsumeOptions, Consumer } from "./Consumer.ts"
import type { BusPublishError, InvalidConfig, PublishError, TransportError } from "./errors.ts"
import type { Handler } from "./Handler.ts"
import * as ConsumerRuntime from "./internal/consumer/ConsumerRuntime.ts"
import { historyOf } from "./internal/consumer/history.ts"
import * as Settler from "./internal/consumer/Settler.ts"
import { EnsuredTopics } from "./internal/EnsuredTopics.ts"
import { duration, firstProblem, invalid, object } from "./internal/options.ts"
import { Publisher } from "./internal/Publisher.ts"
import { promptScheduler } from "./internal/promptScheduler.ts"
import { decode, type ReceivedMessage, type Unsettled } from "./internal/ReceivedMessage.ts"
import type { Message } from "./Message.ts"
import type { Topic } from "./Topic.ts"
import {
  type GroupLag,
  type PublishReceipt,
  type SettingDifference,
  type SubscriptionOptions,
  type TopicInfo,
  type Transport,
  TransportService,
  type TransportStatus,
  type UpdateTopicOptions
} from "./Transport.ts"

/** Options of one publish. */
export interface PublishOptions {
  /** Message id; the topic's `id` function, or a generated unique id, when absent. Reuse it to republish without duplicating. */
  readonly id?: string
  /** Key for per-key order; the topic's `key` function when absent. */
  readonly key?: string
  /**
   * Extra headers: names of `A-Z a-z 0-9 _ . -`, values without control characters. Names starting with
   * `sluice-` (Sluice's own) or `Nats-` (directives to the NATS server) are refused with `InvalidName`.
   */
  readonly headers?: Readonly<Record<string, string>>
}

/** Options of {@link BusShape.subscribe}: the subscription options without the topic. */
export type SubscribeOptions = Omit<SubscriptionOptions, "topic">

/** The settings of a consumer's group that the broker keeps for all its members: what {@link BusShape.updateGroup} changes. */
export type GroupOptions = Pick<ConsumeOptions, "ackWait" | "backoff">

/** Options of {@link make}. */
export interface BusOptions {
  /**
   * How a publish that met a transient error (`TransportUnavailable`) is retried, within `publishTimeout`.
   * Default: exponential from 100 ms with jitter, 5 retries.
   */
  readonly publishRetry?: Schedule.Schedule<unknown, PublishError>
  /**
   * How long a publish (or `publishAll`) may take with all its retries. One not confirmed by then fails with
   * `TransportUnavailable` that says so: it may or may not be stored, so publish it again with the same id.
   * Each attempt is bounded by the transport as well (NATS: `requestTimeout`, 5 seconds by default): a
   * first attempt that outlasts `publishTimeout` ends the publish when it fails. Default 10 seconds, enough
   * to ride out a NATS leader election; `"Infinity"` for no limit but the retry schedule's.
   */
  readonly publishTimeout?: Duration.Input
}

/** What a {@link Bus} offers. */
export interface BusShape {
  readonly transport: Transport
  /**
   * The transport's connection status (`"connected"`, `"reconnecting"`, `"closed"`): the current one first,
   * then each change; it completes after `"closed"`.
   */
  readonly status: Stream.Stream<TransportStatus>
  /** Publishes one value and waits for the broker's confirmation. */
  publish<A>(topic: Topic<A>, value: A, options?: PublishOptions): Effect.Effect<PublishReceipt, BusPublishError>
  /** Publishes several values in one batch and waits for every confirmation, in order. */
  publishAll<A>(
    topic: Topic<A>,
    values: Iterable<A>,
    options?: Pick<PublishOptions, "headers">
  ): Effect.Effect<ReadonlyArray<PublishReceipt>, BusPublishError>
  /**
   * Opens a subscription in the scope and returns its decoded messages, to settle yourself: when it
   * succeeds, the group (or the broadcast subscription) exists, and every message published from then on
   * reaches it. Undecodable messages are dead-lettered and acknowledged, never emitted. When the scope
   * closes, the stream completes, and every message it emitted that was not settled goes back to the
   * broker at once, to be delivered again.
   */
  subscribe<A>(
    topic: Topic<A>,
    options?: SubscribeOptions
  ): Effect.Effect<Stream.Stream<Message<A>, TransportError>, TransportError, Scope.Scope>
  /**
   * Runs `handler` for each message: acknowledged after it succeeds, delivered
   * again after `redeliveryDelay` when it fails, dead-lettered with the reason on
   * the last allowed attempt. A handler may settle a message itself. The
   * consumer stops gracefully when the scope closes.
   */
  consume<A, E, R>(
    topic: Topic<A>,
    options: ConsumeOptions,
    handler: Handler<A, E, R>
  ): Effect.Effect<Consumer, TransportError, Scope.Scope | R>
  /**
   * Makes the topic's settings those of its definition exactly (a setting it leaves out goes back to its
   * default), logs each change and returns them. Publishing and consuming never change a topic that exists:
   * a definition whose settings differ is refused with `InvalidConfig` naming each difference, so a change is
   * made here, once. A change that would remove stored messages (a lower `maxMessages` or `maxBytes` than the
   * topic holds, a shorter `maxAge` than its oldest message's age) is refused unless `allowDiscard`.
   */
  updateTopic<A>(
    topic: Topic<A>,
    options?: UpdateTopicOptions
  ): Effect.Effect<ReadonlyArray<SettingDifference>, TransportError>
  /**
   * Makes a group's settings those `consume` creates it with, given these options (the ack wait or backoff;
   * the broker sets no limit on deliveries: the consumer counts attempts itself), logs each change and
   * returns them.
   * A consumer whose options give other settings than its existing group's is refused with `InvalidConfig`
   * naming each difference, so a change is made here, once.
   */
  updateGroup<A>(
    topic: Topic<A>,
    group: string,
    options: GroupOptions
  ): Effect.Effect<ReadonlyArray<SettingDifference>, TransportError>
  /** How far a group is behind. */
  lag<A>(topic: Topic<A>, group: string): Effect.Effect<GroupLag, TransportError>
  /** What a topic holds, with expired and discarded counts. */
  topicInfo<A>(topic: Topic<A>): Effect.Effect<TopicInfo, TransportError>
}

const DEFAULT_PUBLISH_RETRY = Schedule.max([Schedule.jittered(Schedule.exponential("100 millis")), Schedule.recurs(5)])
/** How long a publish may take with its retries when `BusOptions.publishTimeout` is absent. */
export const defaultPublishTimeout: Duration.Duration = Duration.seconds(10)
/**
 * Runs of consumer fibers per turn of the event loop that start from the microtask queue (see promptScheduler;
 * how it was chosen: bench/README.md).
 */
const PROMPT_RUNS_PER_TURN = 64

/** The problem with Bus options, if any. */
export const validateOptions = (options: BusOptions): InvalidConfig | undefined =>
  firstProblem(
    object("options", options),
    options.publishRetry === undefined || Schedule.isSchedule(options.publishRetry)
      ? undefined
      : invalid("publishRetry", options.publishRetry, "a Schedule"),
    duration("publishTimeout", options.publishTimeout, { infinite: true })
  )

/**
 * Builds a Bus over `transport`.
 *
 * @throws {InvalidConfig} when an option is not acceptable, naming it.
 */
export const make = (transport: Transport, options: BusOptions = {}): BusShape => {
  const problem = validateOptions(options)
  if (problem !== undefined) throw problem
  const topics = new EnsuredTopics(transport)
  const publisher = new Publisher(
    transport,
    topics,
    options.publishRetry ?? DEFAULT_PUBLISH_RETRY,
    Duration.fromInputUnsafe(options.publishTimeout ?? defaultPublishTimeout)
  )
  // Consumers handle the messages of a read before the next read (see promptScheduler).
  const consumerScheduler = promptScheduler(PROMPT_RUNS_PER_TURN)

  const subscribe = <A>(topic: Topic<A>, subscribeOptions: SubscribeOptions = {}) =>
    Effect.gen(function* () {
      yield* topics.withDeadLetter(topic)
      const settler = new Settler.Settler({
        transport,
        topic: topic.name,
        deadLetterTopic: topic.deadLetter,
        group: subscribeOptions.group,
        maxAttempts: 1,
        redeliveryDelay: Settler.defaultRedeliveryDelay
      })
      const unsettled: Unsettled = new Set()
      let closed = false
      // Added before the transport's subscription, so it runs after that closed (finalizers run in reverse):
      // what the stream took and nobody settled goes back at once, not after its ack wait.
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          closed = true
          return Effect.forEach([...unsettled], (delivery) => settler.settle(delivery, Settler.HandedBack), {
            discard: true
          })
        })
      )
      const deliveries = yield* transport.subscribe({ ...subscribeOptions, topic: topic.name })
      return deliveries.pipe(
        // Counted as they are taken, a batch at a time: a reader that stops mid-batch (`Stream.take`) leaves
        // the rest of it taken from the transport, and it must go back too.
        Stream.mapArray((batch) => {
          for (const delivery of batch) unsettled.add(delivery)
          return batch
        }),
        Stream.mapEffect((delivery) =>
          Effect.flatMap(historyOf(delivery, subscribeOptions.group), (history) => {
            // Still on its way when the subscription closed: it went back already, nobody can settle it.
            if (closed) return Effect.succeed(undefined)
            const message = decode(topic, delivery, history.failures + 1)
            if (typeof message === "string") {
              unsettled.delete(delivery)
              return Effect.as(settler.settle(delivery, { _tag: "Undecodable", reason: message }), undefined)
            }
            message.unsettled = unsettled
            return Effect.succeed(message)
          })
        ),
        Stream.filter((message): message is ReceivedMessage<A> => message !== undefined)
      )
    })

  return {
    transport,
    status: transport.status,
    publish: (topic, value, publishOptions) => publisher.publish(topic, value, publishOptions),
    publishAll: (topic, values, publishOptions) => publisher.publishAll(topic, values, publishOptions),
    subscribe,
    consume: (topic, consumeOptions, handler) =>
      Effect.fromResult(ConsumerRuntime.validate(consumeOptions)).pipe(
        Effect.andThen(topics.withDeadLetter(topic)),
        Effect.andThen(ConsumerRuntime.start(transport, topic, consumeOptions, handler)),
        Effect.provideService(Scheduler.Scheduler, consumerScheduler)
      ),
    updateTopic: (topic, updateOptions) => transport.updateTopic(topic.config, updateOptions),
    updateGroup: (topic, group, groupOptions) =>
      Effect.suspend(() => {
        const problem = object("options", groupOptions)
        if (problem !== undefined) return Effect.fail(problem)
        const { ackWait, backoff } = groupOptions
        return transport.updateGroup(topic.name, group, {
          ...(ackWait === undefined ? {} : { ackWait }),
          ...(backoff === undefined ? {} : { backoff })
        })
      }),
    lag: (topic, group) => transport.lag(topic.name, group),
    topicInfo: (topic) => transport.topicInfo(topic.name)
  }
}

/** The Bus as an Effect service: `yield* Bus.Bus` in a program, provided by {@link layer}. */
export class Bus extends Context.Service<Bus, BusShape>()("@sluice/core/Bus") {}

/** A Bus over the `TransportService` of the context; fails with `InvalidConfig` for a bad option. */
export const layer = (options: BusOptions = {}): Layer.Layer<Bus, InvalidConfig, TransportService> =>
  Layer.effect(
    Bus,
    Effect.flatMap(TransportService, (transport) => {
      const problem = validateOptions(options)
      return problem === undefined ? Effect.succeed(make(transport, options)) : Effect.fail(problem)
    })
  )
