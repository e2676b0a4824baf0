/**
 * One subscription's end of a JetStream pull consumer: the {@link Puller} that keeps its pulls outstanding,
 * the queue of deliveries its stream emits, and the linger after it closes. It is the host of its
 * deliveries: they settle through it.
 *
 * Invariant: nothing is acknowledged by closing. When the subscription's scope closes, its pulls stop, its
 * stream ends, what it received but never emitted is handed back at once, and a nak sent while its pulls
 * may still linger at the server is held back until they are gone: a lingering pull would take the message
 * out of reach until its ack wait (see Puller). When the connection stays lost longer than the transport
 * allows (`ConnectionStatus.outageMillis`), its pulls stop and its stream fails with `TransportUnavailable`.
 *
 * Why a class: the queue, the puller and the linger deadline are one subsystem's state, read by its
 * deliveries, its pulls and its recovery alike; `NatsTransport.subscribe` only wires one up.
 */
import type { JetStreamManager } from "@nats-io/jetstream"
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Errors, type Transport, TransportDefaults } from "@sluice/core"
import { Cause, Duration, Effect, Queue, type Scope, Stream } from "effect"
import { readAckSubject } from "./ackSubject.ts"
import type { CommandBuffer } from "./CommandBuffer.ts"
import type { ConnectionStatus } from "./ConnectionStatus.ts"
import { DeliveryHistories } from "./DeliveryHistories.ts"
import { isConsumerNotFound, isStreamNotFound, unavailable } from "./errors.ts"
import { type DeliveryHost, NatsDelivery } from "./NatsDelivery.ts"
import { pullSubject } from "./names.ts"
import { type Held, InboxClosed, Puller } from "./Puller.ts"
import type { PullSettings } from "./pullSettings.ts"
import type { Redactor } from "./secrets.ts"

/** Work that outlives a closed subscription, for its transport to await. */
export class Lingering {
  readonly #pending = new Set<Promise<unknown>>()

  add(work: Promise<unknown>): void {
    this.#pending.add(work)
    void work.finally(() => this.#pending.delete(work))
  }

  /** Resolves once everything added so far is done. */
  settled(): Promise<void> {
    return Promise.allSettled([...this.#pending]).then(() => undefined)
  }
}

/** What every subscriber of a transport shares. */
export interface SubscriberContext {
  readonly connection: NatsConnection
  readonly jsm: JetStreamManager
  readonly commands: CommandBuffer
  /** The connection's inbox prefix, when it has one of its own. */
  readonly inboxPrefix: string | undefined
  readonly pull: PullSettings
  /** Where what became of each delivery is kept. */
  readonly histories: DeliveryHistories
  /**
   * Hand-backs waiting for a closed subscription's pulls to be gone, which the transport awaits before it
   * closes the connection; each removes itself when done.
   */
  readonly lingering: Lingering
  /** How long a nak waits for the server's confirmation, in milliseconds. */
  readonly timeoutMillis: number
  readonly redact: Redactor
  /** The connection's status, which says when it has been lost for too long. */
  readonly status: ConnectionStatus
}

/** What one subscriber reads: a consumer of a topic's stream, for a subscription. */
export interface SubscriberTarget {
  readonly topic: string
  readonly stream: string
  /** The consumer's name: the group's, or the broadcast subscription's own consumer. */
  readonly consumer: string
  readonly subscription: Transport.SubscriptionOptions
}

const encoder = new TextEncoder()
/** "Still working on it": restarts a delivery's ack wait. */
const WORKING = encoder.encode("+WPI")

type DeliveryQueue = Queue.Queue<Transport.Delivery, Errors.TransportError | Cause.Done>

export class Subscriber implements DeliveryHost {
  /** Starts a subscriber that lives as long as the scope; its stream emits what the consumer delivers. */
  static start(
    context: SubscriberContext,
    target: SubscriberTarget
  ): Effect.Effect<Stream.Stream<Transport.Delivery, Errors.TransportError>, never, Scope.Scope> {
    return Effect.map(
      Effect.acquireRelease(
        Effect.gen(function* () {
          const queue = yield* Queue.unbounded<Transport.Delivery, Errors.TransportError | Cause.Done>()
          // What runs outside any fiber of the subscriber's (a late message's hand-back) runs in its context:
          // its log lines go where the subscriber's do.
          return new Subscriber(context, target, queue, Effect.runPromiseWith(yield* Effect.context()))
        }),
        (subscriber) => subscriber.#close()
      ),
      (subscriber) => Stream.fromQueue(subscriber.#queue)
    )
  }

  readonly redact: Redactor
  readonly histories: DeliveryHistories
  readonly #context: SubscriberContext
  readonly #target: SubscriberTarget
  readonly #queue: DeliveryQueue
  /** The ack wait of each attempt, in milliseconds; the last repeats. */
  readonly #ackWaits: ReadonlyArray<number>
  readonly #puller: Puller
  /** The ack subjects of the messages handed back once the pulls are gone, kept from their ack wait meanwhile. */
  readonly #heldBack = new Set<Uint8Array>()
  /** Resolves once the closed subscription's pulls are gone from the server; `undefined` while it is open. */
  #pullsGone: Promise<void> | undefined
  /** Stops listening for a lost connection. */
  readonly #unwatch: () => void
  /** Runs an effect in the context of the fiber that started the subscriber. */
  readonly #run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>

  get group(): string | undefined {
    return this.#target.subscription.group
  }

  private constructor(
    context: SubscriberContext,
    target: SubscriberTarget,
    queue: DeliveryQueue,
    run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>
  ) {
    this.#run = run
    this.redact = context.redact
    this.histories = context.histories
    this.#context = context
    this.#target = target
    this.#queue = queue
    this.#ackWaits = TransportDefaults.ackWaitsOf(target.subscription)
    const { pull } = context
    // Holds whose ack wait passed are released every quarter of the shortest ack wait, within 50 ms to 1 s.
    const sweepMillis = Math.min(1000, Math.max(50, Math.min(...this.#ackWaits) / 4))
    this.#puller = new Puller(
      context.connection,
      context.commands,
      pullSubject(target.stream, target.consumer),
      context.inboxPrefix,
      {
        ...pull,
        maxInFlight: TransportDefaults.maxInFlightOf(target.subscription),
        retryMillis: Math.min(1000, pull.heartbeatMillis)
      },
      (message, reply) => this.#receive(message, reply),
      (message, reply) => this.#handBackLate(message, reply),
      (error) => this.#recover(error),
      sweepMillis
    )
    this.#unwatch = context.status.onOutage(() => this.#connectionLost())
  }

  ackWaitMillis(deliveryCount: number): number {
    return TransportDefaults.ackWaitOf(this.#ackWaits, deliveryCount)
  }

  historyKey(sequence: number): string {
    return DeliveryHistories.keyOf(this.#target.topic, this.#target.consumer, sequence)
  }

  release(held: Held): void {
    this.#puller.release(held)
  }

  send(subject: Uint8Array, payload: Uint8Array): void {
    this.#context.commands.publish(subject, payload)
  }

  confirm(subject: string, payload: string): Promise<unknown> {
    const { connection, timeoutMillis, lingering } = this.#context
    const send = () => connection.request(subject, payload, { timeout: timeoutMillis })
    const gone = this.#pullsGone
    if (gone === undefined) return send()
    // The subscription closed and its pulls may linger at the server: hand the message back once they are
    // gone, and keep it from its ack wait meanwhile (a redelivery would go to a lingering pull, and spend a
    // delivery). The transport waits for it before it closes the connection; should the connection close
    // first all the same, the ack wait brings the message back.
    const ackSubject = encoder.encode(subject)
    this.#keepAlive(ackSubject)
    lingering.add(
      gone
        .then(() => {
          this.#heldBack.delete(ackSubject)
          return send()
        })
        .then(
          () => undefined,
          () => undefined
        )
    )
    return Promise.resolve()
  }

  /** Marks a message held back until the pulls are gone as worked on, every third of the shortest ack wait. */
  #keepAlive(ackSubject: Uint8Array): void {
    this.#heldBack.add(ackSubject)
    if (this.#heldBack.size > 1) return
    const every = Math.max(10, Math.min(...this.#ackWaits) / 3)
    const timer = setInterval(() => {
      if (this.#heldBack.size === 0) return clearInterval(timer)
      for (const held of this.#heldBack) this.#context.commands.publish(held, WORKING)
    }, every)
    timer.unref()
  }

  /** Queues what the server delivered; a message whose reply is no ack subject is no delivery. */
  #receive(message: Msg, reply: Uint8Array): Held | undefined {
    const info = readAckSubject(reply)
    if (info === undefined) return undefined
    const delivery = new NatsDelivery(this.#target.topic, message, reply, info, this)
    Queue.offerUnsafe(this.#queue, delivery)
    return delivery.held
  }

  /** A message that reached the closed subscription through a lingering pull: nobody will handle it, so it goes back. */
  #handBackLate(message: Msg, reply: Uint8Array): void {
    const info = readAckSubject(reply)
    if (info === undefined) return
    const delivery = new NatsDelivery(this.#target.topic, message, reply, info, this)
    this.#context.lingering.add(this.#run(Effect.ignore(delivery.nak())))
  }

  /** After failed pulls: go on unless the connection or the pulls' inbox is closed for good, or the consumer is gone. */
  async #recover(error: unknown): Promise<boolean> {
    const { connection, jsm, redact } = this.#context
    const { topic, stream, consumer, subscription } = this.#target
    if (connection.isClosed() || error instanceof InboxClosed) {
      Queue.failCauseUnsafe(this.#queue, Cause.fail(unavailable("subscribe", error, redact)))
      return false
    }
    const gone = await jsm.consumers.info(stream, consumer).then(
      () => false,
      (lookup: unknown) => isStreamNotFound(lookup) || isConsumerNotFound(lookup)
    )
    if (!gone) return true
    const group = subscription.group
    const failure =
      group === undefined ? unavailable("subscribe", error, redact) : new Errors.GroupNotFound({ topic, group })
    Queue.failCauseUnsafe(this.#queue, Cause.fail(failure))
    return false
  }

  /** The connection has been lost for longer than the transport allows: the pulls stop, the stream fails. */
  #connectionLost(): void {
    const { connection, status, redact } = this.#context
    const lost = Duration.format(Duration.millis(status.outageMillis))
    Queue.failCauseUnsafe(
      this.#queue,
      Cause.fail(
        new Errors.TransportUnavailable({
          operation: "subscribe",
          reason: `the connection to ${redact.text(connection.getServer())} has been lost for ${lost} (disconnectTimeout)`
        })
      )
    )
    this.#pullsGone = this.#puller.stop()
  }

  /** Stops pulling and ends the stream; what it received but never emitted goes back to the server at once. */
  #close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.#unwatch()
      this.#pullsGone = this.#puller.stop()
      return Effect.andThen(
        Queue.end(this.#queue),
        Effect.orElseSucceed(Queue.clear(this.#queue), () => [])
      ).pipe(
        Effect.flatMap((unemitted) =>
          Effect.forEach(unemitted, (delivery) => Effect.ignore(delivery.nak()), { discard: true })
        )
      )
    })
  }
}
