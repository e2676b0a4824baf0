/**
 * A consumer: a handler run for each message of a topic, in a group or as a broadcast subscriber, with the
 * options that bound and time it. The runtime behind it is internal; what can be plugged in is the
 * {@link Dispatch.Dispatch} and the handler's middleware.
 *
 * Invariant: a message is acknowledged only after its handler succeeded; a failed one comes back after a
 * delay, and goes to the dead letter on its last allowed attempt; one handed back counts no attempt.
 *
 * Why: these options are the one contract a service author reads; the runtime can change behind them.
 */
import type { Duration, Effect } from "effect"
import type { Dispatch } from "./Dispatch.ts"
import type { TransportError } from "./errors.ts"
import type { SubscriptionOptions } from "./Transport.ts"

/** Options of a consumer: the subscription's (without the topic), and the runtime's. */
export interface ConsumeOptions extends Omit<SubscriptionOptions, "topic" | "maxDeliveries" | "maxInFlight"> {
  /**
   * Most messages this consumer holds unsettled (waiting for a handler or being handled), a count; the broker
   * sends no more until some are settled. Default `concurrency`: a message waits in the broker until a
   * handler is free, so a consumer that crashes strands no more messages than it was handling (each comes
   * back after its ack wait). A larger bound fetches ahead, which pays where a fetch from the broker costs
   * more than handling a message.
   */
  readonly maxInFlight?: number
  /** Handlers running at once, a count. Default 1. Messages of one key may then run in parallel: use the per-key pattern for order. */
  readonly concurrency?: number
  /**
   * The attempt from which a handler failure dead-letters the message instead of retrying it, a count.
   * Default 5. The broker may deliver a message 5 times more, for deliveries that ended without an outcome
   * (a consumer stopped or crashed, an ack wait overran); the last of those dead-letters it without running
   * the handler, so a message is never dropped silently.
   */
  readonly maxAttempts?: number
  /** Delay before a failed message is delivered again, by attempt (1 for the first failure). Default 1 s doubling per attempt, at most 1 minute. */
  readonly redeliveryDelay?: (attempt: number) => Duration.Input
  /**
   * How long `stop` lets running handlers finish before interrupting them (a Promise handler's `signal` aborts)
   * and handing their messages back. Default 30 seconds.
   */
  readonly stopTimeout?: Duration.Input
  /**
   * How long one handler run may take. A handler still running then is interrupted (a Promise handler's
   * `signal` aborts), and the attempt counts as failed with `HandlerTimeout`. Found within a tenth of it
   * more. Default 5 minutes; `"Infinity"` for no limit.
   */
  readonly handlerTimeout?: Duration.Input
  /**
   * How long the consumer may hold a message (waiting for a handler, or being handled) before it tells the
   * broker it is still working on it (`working`), and again each time this passes, so that neither a long
   * handler nor a long queue behind one makes the broker deliver the message again. Default a third of the
   * shortest ack wait.
   */
  readonly workingInterval?: Duration.Input
  /** How messages reach handler fibers. Default {@link Dispatch.pool}: `concurrency` fibers, in the order received. */
  readonly dispatch?: Dispatch
}

/** A running consumer. */
export interface Consumer {
  /**
   * Stops gracefully: pulls no more messages, hands the ones not started back for
   * redelivery, lets running handlers finish within `stopTimeout` (acknowledging
   * what succeeded), interrupts the rest without acknowledging them. Idempotent.
   */
  readonly stop: Effect.Effect<void>
  /**
   * Waits until the consumer stopped; fails when its subscription failed, as it does with
   * `TransportUnavailable` once the transport lost its connection for longer than it allows (NATS:
   * `disconnectTimeout`).
   */
  readonly done: Effect.Effect<void, TransportError>
}
