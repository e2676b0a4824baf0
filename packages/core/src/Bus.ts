/**
 * The typed face of a transport: publish values of a topic with confirmation,
 * receive them decoded, and consume them with a handler that acknowledges only
 * after success. Undecodable messages go to the topic's dead letter.
 */
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Result,
  Schedule,
  Scheduler,
  Scope,
  Stream
} from "effect"
import * as Actor from "./Actor.ts"
import {
  type BusPublishError,
  EncodeError,
  type InvalidConfig,
  type InvalidName,
  type PublishError,
  type TransportError,
  type TransportUnavailable
} from "./errors.ts"
import { deadLetterRecord } from "./internal/deadLetter.ts"
import { nextMessageId } from "./internal/ids.ts"
import { type Hold, KeepAlive } from "./internal/KeepAlive.ts"
import { validatePublishedHeaders } from "./internal/names.ts"
import { promptScheduler } from "./internal/promptScheduler.ts"
import { type Message, ReceivedMessage } from "./Message.ts"
import type { Topic } from "./Topic.ts"
import {
  type Delivery,
  type GroupLag,
  type OutgoingRecord,
  type PublishReceipt,
  type SubscriptionOptions,
  type TopicConfig,
  type TopicInfo,
  type Transport,
  TransportService
} from "./Transport.ts"
import * as TransportDefaults from "./TransportDefaults.ts"

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

/** Options of {@link BusShape.consume}. */
export interface ConsumeOptions extends SubscribeOptions {
  /** Handlers running at once, a count. Default 1. Messages of one key may then run in parallel: use the per-key pattern for order. */
  readonly concurrency?: number
  /**
   * The attempt from which a handler failure dead-letters the message instead of retrying it, a count.
   * Default 5. The broker may deliver a message 5 times more (`UNSETTLED_DELIVERIES`), for deliveries
   * that ended without an outcome (a consumer stopped or crashed, an ack wait overran); the last of
   * those dead-letters it without running the handler, so a message is never dropped silently.
   */
  readonly maxDeliveries?: number
  /** Delay before a failed message is delivered again, by attempt (1 for the first failure). Default 1 s doubling per attempt, at most 1 minute. */
  readonly redeliveryDelay?: (attempt: number) => Duration.Input
  /** How long `stop` lets running handlers finish before interrupting them. Default 30 seconds. */
  readonly stopTimeout?: Duration.Input
  /**
   * How long the consumer may hold a message (waiting for a handler, or being handled) before it tells the
   * broker it is still working on it (`working`), and again each time this passes, so that neither a long
   * handler nor a long queue behind one makes the broker deliver the message again. Default a third of the
   * shortest ack wait.
   */
  readonly workingInterval?: Duration.Input
}

/** A running consumer. */
export interface Consumer {
  /**
   * Stops gracefully: pulls no more messages, hands the ones not started back for
   * redelivery, lets running handlers finish within `stopTimeout` (acknowledging
   * what succeeded), interrupts the rest without acknowledging them. Idempotent.
   */
  readonly stop: Effect.Effect<void>
  /** Waits until the consumer stopped; fails when its subscription failed. */
  readonly done: Effect.Effect<void, TransportError>
}

/** Options of {@link make}. */
export interface BusOptions {
  /** How a publish that met a transient error (`TransportUnavailable`) is retried. Default: exponential from 100 ms with jitter, 5 retries. */
  readonly publishRetry?: Schedule.Schedule<unknown, PublishError>
}

/** What a {@link Bus} offers. */
export interface BusShape {
  readonly transport: Transport
  /** Publishes one value and waits for the broker's confirmation. */
  publish<A>(topic: Topic<A>, value: A, options?: PublishOptions): Effect.Effect<PublishReceipt, BusPublishError>
  /** Publishes several values in one batch and waits for every confirmation, in order. */
  publishAll<A>(
    topic: Topic<A>,
    values: Iterable<A>,
    options?: Pick<PublishOptions, "headers">
  ): Effect.Effect<ReadonlyArray<PublishReceipt>, BusPublishError>
  /**
   * Decoded messages of a topic, to settle yourself. Undecodable ones are
   * dead-lettered and acknowledged, never emitted.
   */
  subscribe<A>(topic: Topic<A>, options?: SubscribeOptions): Stream.Stream<Message<A>, TransportError>
  /**
   * Runs `handler` for each message: acknowledged after it succeeds, delivered
   * again after `redeliveryDelay` when it fails, dead-lettered with the reason on
   * the last allowed delivery. A handler may settle a message itself. The
   * consumer stops gracefully when the scope closes.
   */
  consume<A, E, R>(
    topic: Topic<A>,
    options: ConsumeOptions,
    handler: (message: Message<A>) => Effect.Effect<void, E, R>
  ): Effect.Effect<Consumer, TransportError, Scope.Scope | R>
  /** How far a group is behind. */
  lag<A>(topic: Topic<A>, group: string): Effect.Effect<GroupLag, TransportError>
  /** What a topic holds, with expired and discarded counts. */
  topicInfo<A>(topic: Topic<A>): Effect.Effect<TopicInfo, TransportError>
}

const DEFAULT_PUBLISH_RETRY = Schedule.max([Schedule.jittered(Schedule.exponential("100 millis")), Schedule.recurs(5)])
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})
const DEFAULT_MAX_DELIVERIES = 5
/** Deliveries a consumed message may have beyond `maxDeliveries`, for deliveries that ended without an outcome. */
const UNSETTLED_DELIVERIES = 5
const DEFAULT_STOP_TIMEOUT = Duration.seconds(30)
/**
 * Runs of consumer fibers per turn of the event loop that start from the microtask queue (see promptScheduler).
 * Measured on a NATS backlog, with a 3-node cluster on the same 2 cores: 64 spent less CPU per message than 16
 * in 9 of 10 runs, and than 256 in 3 of 3.
 */
const PROMPT_RUNS_PER_TURN = 64
const defaultRedeliveryDelay = (attempt: number): Duration.Input => Math.min(1000 * 2 ** (attempt - 1), 60_000)

/** The message of a delivery, or why its payload does not decode. */
const decode = <A>(topic: Topic<A>, delivery: Delivery): ReceivedMessage<A> | string => {
  const decoded = topic.codec.decode(delivery.payload)
  return Result.isSuccess(decoded)
    ? new ReceivedMessage(delivery, decoded.success)
    : `cannot decode the payload: ${decoded.failure}`
}

const describeFailure = (cause: unknown): string => {
  const error = cause instanceof Error ? cause : undefined
  return error === undefined ? String(cause) : `${error.name}: ${error.message}`
}

/** Builds a Bus over `transport`. */
const make = (transport: Transport, options: BusOptions = {}): BusShape => {
  const publishRetry = options.publishRetry ?? DEFAULT_PUBLISH_RETRY
  const ensured = new Set<string>()
  // Consumers handle the messages of a read before the next read (see promptScheduler).
  const consumerScheduler = promptScheduler(PROMPT_RUNS_PER_TURN)

  const ensure = (
    name: string,
    config: TopicConfig
  ): Effect.Effect<void, InvalidName | InvalidConfig | TransportUnavailable> =>
    ensured.has(name)
      ? Effect.void
      : Effect.tap(transport.ensureTopic(config), () => Effect.sync(() => ensured.add(name)))

  const ensureWithDeadLetter = <A>(topic: Topic<A>) =>
    Effect.andThen(
      ensure(topic.name, topic.config),
      ensure(topic.deadLetter, { name: topic.deadLetter, replicas: topic.config.replicas ?? 1 })
    )

  const recordOf = <A>(
    topic: Topic<A>,
    value: A,
    options: PublishOptions | undefined
  ): OutgoingRecord | EncodeError => {
    const payload = topic.codec.encode(value)
    if (Result.isFailure(payload)) return new EncodeError({ topic: topic.name, reason: payload.failure })
    const id = options?.id ?? topic.id?.(value)
    // A plain union, not a Result: this runs once per message, and every allocation counts.
    return {
      topic: topic.name,
      id: id ?? nextMessageId(),
      dedup: id !== undefined,
      key: options?.key ?? topic.key?.(value),
      headers: options?.headers ?? NO_HEADERS,
      payload: payload.success
    }
  }

  const send = <A>(topic: Topic<A>, records: ReadonlyArray<OutgoingRecord>) => {
    const attempt = Effect.andThen(ensure(topic.name, topic.config), transport.publish(records))
    // Starting `Effect.retry` costs a few microseconds, as much as the rest of a publish: it starts only
    // once the first attempt met a transient error, which it is then given as its first failure.
    return Effect.catchTag(attempt, "TransportUnavailable", (first) => {
      let replayed = false
      const again = Effect.suspend(() => {
        if (replayed) return attempt
        replayed = true
        return Effect.fail(first)
      })
      return Effect.retry(again, { schedule: publishRetry, while: (error) => error._tag === "TransportUnavailable" })
    })
  }

  /** Headers a publish may not carry, checked once per call: the transport checks the rest. */
  const refusedHeaders = (options: Pick<PublishOptions, "headers"> | undefined): InvalidName | undefined => {
    if (options?.headers === undefined) return undefined
    const headers = validatePublishedHeaders(options.headers)
    return Result.isFailure(headers) ? headers.failure : undefined
  }

  const publish = <A>(topic: Topic<A>, value: A, options?: PublishOptions) =>
    Effect.suspend((): Effect.Effect<PublishReceipt, BusPublishError> => {
      const refused = refusedHeaders(options)
      if (refused !== undefined) return Effect.fail(refused)
      const record = recordOf(topic, value, options)
      if (record instanceof EncodeError) return Effect.fail(record)
      return Effect.map(send(topic, [record]), (receipts) => receipts[0] as PublishReceipt)
    })

  const publishAll = <A>(topic: Topic<A>, values: Iterable<A>, options?: Pick<PublishOptions, "headers">) =>
    Effect.suspend((): Effect.Effect<ReadonlyArray<PublishReceipt>, BusPublishError> => {
      const refused = refusedHeaders(options)
      if (refused !== undefined) return Effect.fail(refused)
      const records: Array<OutgoingRecord> = []
      for (const value of values) {
        const record = recordOf(topic, value, options)
        if (record instanceof EncodeError) return Effect.fail(record)
        records.push(record)
      }
      return records.length === 0 ? Effect.succeed([]) : send(topic, records)
    })

  /**
   * Moves a delivery to the dead letter, then acknowledges it; if the dead letter cannot be stored, the
   * delivery is redelivered after `retryDelay`.
   */
  const deadLetter = <A>(
    topic: Topic<A>,
    delivery: Delivery,
    group: string | undefined,
    reason: string,
    retryDelay: (attempt: number) => Duration.Input = defaultRedeliveryDelay
  ) =>
    Effect.gen(function* () {
      const record = deadLetterRecord(topic.deadLetter, delivery, group, reason, yield* Clock.currentTimeMillis)
      const stored = yield* Effect.exit(transport.publish([record]))
      if (Exit.isSuccess(stored)) {
        yield* Effect.logWarning(`dead-lettered message ${delivery.id} of ${topic.name}: ${reason}`)
        yield* delivery.ack
      } else {
        yield* Effect.logError(`cannot dead-letter message ${delivery.id} of ${topic.name}; it will be redelivered`)
        yield* delivery.nak(retryDelay(delivery.attempt))
      }
    })

  /** The decoded message of a delivery, or `undefined` once an undecodable one was dead-lettered. */
  const receive = <A>(topic: Topic<A>, delivery: Delivery, group: string | undefined) => {
    const message = decode(topic, delivery)
    return typeof message === "string"
      ? Effect.as(deadLetter(topic, delivery, group, message), undefined)
      : Effect.succeed(message)
  }

  const subscribe = <A>(topic: Topic<A>, options: SubscribeOptions = {}) =>
    Stream.unwrap(
      Effect.gen(function* () {
        yield* ensureWithDeadLetter(topic)
        const deliveries = yield* transport.subscribe({ ...options, topic: topic.name })
        return deliveries.pipe(
          Stream.mapEffect((delivery) => receive(topic, delivery, options.group)),
          Stream.filter((message): message is ReceivedMessage<A> => message !== undefined)
        )
      })
    )

  const consume = <A, E, R>(
    topic: Topic<A>,
    options: ConsumeOptions,
    handler: (message: Message<A>) => Effect.Effect<void, E, R>
  ) =>
    Effect.gen(function* () {
      yield* ensureWithDeadLetter(topic)
      const maxDeliveries = options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES
      const brokerMaxDeliveries = maxDeliveries + UNSETTLED_DELIVERIES
      const redeliveryDelay = options.redeliveryDelay ?? defaultRedeliveryDelay
      const maxInFlight = TransportDefaults.maxInFlightOf(options)
      const shortestAckWait = TransportDefaults.shortestAckWaitOf(options)
      const workingInterval =
        options.workingInterval === undefined ? shortestAckWait / 3 : Duration.toMillis(options.workingInterval)
      const clock = yield* Clock.Clock
      const held = new KeepAlive(workingInterval)
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.gen(function* () {
            yield* Effect.sleep(held.tickMillis)
            for (const delivery of held.due(clock.currentTimeMillisUnsafe())) yield* Effect.ignore(delivery.working)
          })
        )
      )

      const giveUp = (delivery: Delivery, reason: string) =>
        deadLetter(topic, delivery, options.group, reason, redeliveryDelay)

      const failed = (delivery: Delivery, cause: Cause.Cause<E>) => {
        const reason = describeFailure(Cause.squash(cause))
        return delivery.attempt >= maxDeliveries
          ? giveUp(delivery, `handler failed ${delivery.attempt} times: ${reason}`)
          : delivery.nak(redeliveryDelay(delivery.attempt))
      }

      // The per-message path: plain code and one Effect chain, no generator.
      const handle = (hold: Hold): Effect.Effect<void, TransportError, R> => {
        const delivery = hold.delivery
        // The broker's last delivery: a handler failure from attempt maxDeliveries on would have
        // dead-lettered the message, so the deliveries since then all ended without an outcome.
        // Dead-letter it rather than let the broker drop it.
        if (delivery.attempt >= brokerMaxDeliveries) {
          held.release(hold)
          return giveUp(
            delivery,
            `attempts ${maxDeliveries} to ${delivery.attempt - 1} ended without an outcome (consumers stopped or crashed, or ack waits overran)`
          )
        }
        const message = decode(topic, delivery)
        if (typeof message === "string") {
          held.release(hold)
          return giveUp(delivery, message)
        }
        return Effect.matchCauseEffect(handler(message), {
          // Declared with its parameter: Effect wraps a callback of another arity in a closure, per message.
          onSuccess: (_: unknown) => {
            held.release(hold)
            return message.settled ? Effect.void : delivery.ack
          },
          onFailure: (cause) => {
            held.release(hold)
            return message.settled
              ? Effect.void
              : Cause.hasInterruptsOnly(cause)
                ? delivery.nak()
                : failed(delivery, cause)
          }
        })
      }

      const workers = yield* Actor.make({
        receive: handle,
        capacity: maxInFlight,
        workers: options.concurrency ?? 1
      })
      const stopping = yield* Deferred.make<void>()
      // The subscription has a scope of its own, so that `stop` can end it before the consumer's scope closes.
      const subscription = yield* Scope.fork(yield* Effect.scope)
      const deliveries = yield* transport
        .subscribe({ ...options, topic: topic.name, maxDeliveries: brokerMaxDeliveries, maxInFlight })
        .pipe(Scope.provide(subscription))
      const dispatcher = yield* deliveries.pipe(
        Stream.runForEachArray((batch) => {
          const now = clock.currentTimeMillisUnsafe()
          return workers.tellAll(batch.map((delivery) => held.take(delivery, now)))
        }),
        Effect.forkScoped
      )

      const stopped = yield* Deferred.make<void>()
      const stop = Effect.gen(function* () {
        if (!(yield* Deferred.succeed(stopping, undefined))) return yield* Deferred.await(stopped)
        // Closing the subscription ends its stream; the dispatcher ends once it handed on what it had taken.
        yield* Scope.close(subscription, Exit.void)
        yield* Fiber.await(dispatcher)
        const unstarted = yield* workers.close
        for (const hold of unstarted) held.release(hold)
        yield* Effect.forEach(unstarted, (hold) => Effect.ignore(hold.delivery.nak()), { discard: true })
        // Workers resume after any failure, so waiting for them ends only when they drained.
        const drained = Effect.ignore(workers.await)
        const finished = yield* Effect.timeoutOption(drained, options.stopTimeout ?? DEFAULT_STOP_TIMEOUT)
        if (finished._tag === "None") {
          yield* workers.interrupt
          // What the interrupted handlers held is not done: hand it back at once rather than after its ack wait.
          yield* Effect.forEach(held.releaseAll(), (delivery) => Effect.ignore(delivery.nak()), { discard: true })
        }
        yield* Deferred.succeed(stopped, undefined)
      }).pipe(Effect.uninterruptible)
      yield* Effect.addFinalizer(() => stop)

      return {
        stop,
        done: Effect.andThen(Fiber.join(dispatcher), workers.await)
      } satisfies Consumer
    }).pipe(Effect.provideService(Scheduler.Scheduler, consumerScheduler))

  return {
    transport,
    publish,
    publishAll,
    subscribe,
    consume,
    lag: (topic, group) => transport.lag(topic.name, group),
    topicInfo: (topic) => transport.topicInfo(topic.name)
  }
}

/**
 * The Bus as an Effect service: `yield* Bus` in a program, `Bus.layer()` over a
 * transport layer to provide it, `Bus.make(transport)` to build one directly.
 */
export class Bus extends Context.Service<Bus, BusShape>()("@sluice/core/Bus") {
  static readonly make = make
  /** A Bus over the `TransportService` of the context. */
  static readonly layer = (options: BusOptions = {}): Layer.Layer<Bus, never, TransportService> =>
    Layer.effect(
      Bus,
      Effect.map(TransportService, (transport) => make(transport, options))
    )
}
