/**
 * A received message as the runtime holds it: the decoded payload, the delivery it came in, its attempt,
 * and whether the handler settled it itself.
 *
 * Invariant: a message the handler settled is not settled again by the runtime; one a subscription counts
 * leaves its count when it is settled.
 *
 * Why: a handler may ack, nak or term itself, and the runtime must not override it.
 */
import { type Duration, Effect, Result } from "effect"
import type { TransportError } from "../errors.ts"
import { oneLine } from "../Logging.ts"
import type { Message } from "../Message.ts"
import type { Topic } from "../Topic.ts"
import type { Delivery } from "../Transport.ts"

/** The deliveries a subscription took from its transport and nobody settled yet. */
export type Unsettled = Set<Delivery>

/** A message together with the delivery it came in and whether it was settled. */
export class ReceivedMessage<A> implements Message<A> {
  readonly delivery: Delivery
  readonly payload: A
  /** True once `ack`, `nak` or `term` was called on this message. */
  settled = false
  /** Where the message is counted until it is settled, when a subscription keeps count. */
  unsettled: Unsettled | undefined = undefined

  readonly attempt: number

  /** @param attempt Which try of the handler this is (see `Message.attempt`). */
  constructor(delivery: Delivery, payload: A, attempt: number) {
    this.delivery = delivery
    this.payload = payload
    this.attempt = attempt
  }

  get topic(): string {
    return this.delivery.topic
  }
  get id(): string {
    return this.delivery.id
  }
  get key(): string | undefined {
    return this.delivery.key
  }
  get headers(): Readonly<Record<string, string>> {
    return this.delivery.headers
  }
  get sequence(): number {
    return this.delivery.sequence
  }
  get publishedAt(): Date {
    return new Date(this.delivery.publishedAt)
  }
  get deliveryCount(): number {
    return this.delivery.deliveryCount
  }
  get ack(): Effect.Effect<void, TransportError> {
    return this.settle(this.delivery.ack)
  }
  nak(delay?: Duration.Input): Effect.Effect<void, TransportError> {
    return this.settle(this.delivery.nak(delay))
  }
  get term(): Effect.Effect<void, TransportError> {
    return this.settle(this.delivery.term)
  }
  get working(): Effect.Effect<void, TransportError> {
    return this.delivery.working
  }

  /** What a log line shows: the message, not the broker's bookkeeping. */
  toJSON(): object {
    const { topic, payload, id, key, headers, sequence, publishedAt, attempt, deliveryCount } = this
    return { topic, payload, id, key, headers, sequence, publishedAt, attempt, deliveryCount }
  }

  // The flag is set when the settlement runs, not when it is read: a handler may destructure `ack`.
  private settle(settlement: Effect.Effect<void, TransportError>): Effect.Effect<void, TransportError> {
    return Effect.suspend(() => {
      this.settled = true
      this.unsettled?.delete(this.delivery)
      return settlement
    })
  }
}

/** The message of a delivery, as handler attempt `attempt`, or why its payload does not decode. */
export const decode = <A>(topic: Topic<A>, delivery: Delivery, attempt: number): ReceivedMessage<A> | string => {
  const decoded = topic.codec.decode(delivery.payload)
  return Result.isSuccess(decoded)
    ? new ReceivedMessage(delivery, decoded.success, attempt)
    : `cannot decode the payload: ${oneLine(decoded.failure)}`
}
