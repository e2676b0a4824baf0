/**
 * What a consumer receives: the decoded payload, where it came from, and the
 * controls that settle it with the broker.
 */
import { type Duration, Effect } from "effect"
import type { TransportError } from "./errors.ts"
import type { Delivery } from "./Transport.ts"

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
  /** 1 on the first delivery, 2 on the first redelivery, and so on. */
  readonly attempt: number
  /** Done: the message is not delivered to this group again. Call only after its effect happened. */
  readonly ack: Effect.Effect<void, TransportError>
  /** Not done: deliver it again, after `delay` when given. */
  nak(delay?: Duration.Input): Effect.Effect<void, TransportError>
  /** Never deliver it to this group again, without success. */
  readonly term: Effect.Effect<void, TransportError>
  /** Still working on it: restart the ack wait, so a long handler is not redelivered meanwhile. */
  readonly working: Effect.Effect<void, TransportError>
}

/** A message together with the delivery it came in and whether it was settled. */
export class ReceivedMessage<A> implements Message<A> {
  readonly delivery: Delivery
  readonly payload: A
  /** True once `ack`, `nak` or `term` was called on this message. */
  settled = false

  constructor(delivery: Delivery, payload: A) {
    this.delivery = delivery
    this.payload = payload
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
  get attempt(): number {
    return this.delivery.attempt
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
    const { topic, payload, id, key, headers, sequence, publishedAt, attempt } = this
    return { topic, payload, id, key, headers, sequence, publishedAt, attempt }
  }

  // The flag is set when the settlement runs, not when it is read: a handler may destructure `ack`.
  private settle(settlement: Effect.Effect<void, TransportError>): Effect.Effect<void, TransportError> {
    return Effect.suspend(() => {
      this.settled = true
      return settlement
    })
  }
}
