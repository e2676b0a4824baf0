/**
 * What a consumer receives: the decoded payload, where it came from, its attempt, and the controls that
 * settle it with the broker.
 *
 * Invariant: `attempt` counts handler failures only; `deliveryCount` counts every delivery.
 *
 * Why: one name, one meaning: a retry policy reads attempts, an operator reads deliveries.
 */
import type { Duration, Effect } from "effect"
import type { TransportError } from "./errors.ts"

/** A received message whose payload decoded to a value of type `A`. */
export interface Message<A> {
  readonly topic: string
  readonly payload: A
  readonly id: string
  readonly key: string | undefined
  readonly headers: Readonly<Record<string, string>>
  /** Position of the message in its topic. */
  readonly sequence: number
  /** When the broker stored the message. */
  readonly publishedAt: Date
  /**
   * Which try of the handler this is: 1, plus the earlier deliveries whose handler failed. Deliveries handed
   * back (a consumer stopping) or abandoned (a crash) do not count: `maxAttempts` bounds this number.
   */
  readonly attempt: number
  /** How many times the broker delivered the message to this group, this delivery included: every hand-back and crash counts. */
  readonly deliveryCount: number
  /** Done: the message is not delivered to this group again. Call only after its effect happened. */
  readonly ack: Effect.Effect<void, TransportError>
  /** Not done: deliver it again, after `delay` when given. */
  nak(delay?: Duration.Input): Effect.Effect<void, TransportError>
  /** Never deliver it to this group again, without success. */
  readonly term: Effect.Effect<void, TransportError>
  /** Still working on it: restart the ack wait, so a long handler is not redelivered meanwhile. */
  readonly working: Effect.Effect<void, TransportError>
}
