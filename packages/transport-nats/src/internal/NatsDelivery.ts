import type { JsMsg } from "@nats-io/jetstream"
import type { Delivery, TransportError } from "@sluice/core"
import { type Duration, Effect } from "effect"
import { millis } from "./durations.ts"
import { unavailable } from "./errors.ts"
import type { Held } from "./Puller.ts"
import { labelsOf } from "./records.ts"
import type { Redactor } from "./secrets.ts"

/** What a delivery needs from its subscription. */
export interface DeliveryHost {
  /** The ack wait of an attempt, in milliseconds. */
  readonly ackWaitMillis: (attempt: number) => number
  /** Sends a settlement to the server and waits for its confirmation. */
  readonly confirm: (subject: string, payload: string) => Promise<unknown>
  /** The delivery no longer counts against the subscriber's in-flight bound. */
  readonly release: (held: Held) => void
  readonly redact: Redactor
}

/**
 * A JetStream message as a {@link Delivery}. Settling it sends the ack, nak or term at once (JetStream
 * acks are fire-and-forget; a lost one means a redelivery, never a loss) and frees its place in the
 * subscriber's in-flight bound. Its headers are decoded when first read: many handlers never do.
 */
export class NatsDelivery implements Delivery {
  readonly topic: string
  readonly sequence: number
  readonly payload: Uint8Array
  readonly publishedAt: number
  readonly attempt: number
  readonly held: Held
  readonly #message: JsMsg
  readonly #host: DeliveryHost
  #labels: ReturnType<typeof labelsOf> | undefined
  #settled = false

  constructor(topic: string, message: JsMsg, host: DeliveryHost) {
    const info = message.info
    this.topic = topic
    this.sequence = info.streamSequence
    this.payload = message.data
    this.publishedAt = Math.floor(info.timestampNanos / 1_000_000)
    this.attempt = info.deliveryCount
    this.held = { deadline: Date.now() + host.ackWaitMillis(this.attempt), released: false }
    this.#message = message
    this.#host = host
  }

  get id(): string {
    return this.#labelsOnce().id
  }

  get key(): string | undefined {
    return this.#labelsOnce().key
  }

  get headers(): Readonly<Record<string, string>> {
    return this.#labelsOnce().headers
  }

  #labelsOnce(): ReturnType<typeof labelsOf> {
    this.#labels ??= labelsOf(this.topic, this.sequence, this.#message.headers)
    return this.#labels
  }

  get ack(): Effect.Effect<void, TransportError> {
    return this.#settle("ack", () => {
      this.#message.ack()
      return undefined
    })
  }

  /**
   * The nak waits for the server's confirmation before the subscriber pulls again: the server queues
   * settlements, and a pull it saw first would deliver a later message before this one.
   */
  nak(delay?: Duration.Input): Effect.Effect<void, TransportError> {
    // The ack subject is on the JetStream message, though not in its type.
    const subject = (this.#message as JsMsg & { readonly reply: string }).reply
    const payload =
      delay === undefined
        ? "-NAK"
        : `-NAK ${JSON.stringify({ delay: Math.max(0, Math.round(millis(delay))) * 1_000_000 })}`
    return this.#settle("nak", () => this.#host.confirm(subject, payload))
  }

  get term(): Effect.Effect<void, TransportError> {
    // A term reason is ignored by nats-server 2.9 (the message is then redelivered): a plain term only.
    return this.#settle("term", () => {
      this.#message.term()
      return undefined
    })
  }

  get working(): Effect.Effect<void, TransportError> {
    return Effect.try({
      try: () => {
        this.#message.working()
        this.held.deadline = Date.now() + this.#host.ackWaitMillis(this.attempt)
      },
      catch: (error) => unavailable("working", error, this.#host.redact)
    })
  }

  /** Settles once (a second settlement is ignored, as JetStream's client does); sync sends stay sync. */
  #settle(operation: string, send: () => Promise<unknown> | undefined): Effect.Effect<void, TransportError> {
    return Effect.suspend(() => {
      if (this.#settled) return Effect.void
      this.#settled = true
      let sent: Promise<unknown> | undefined
      try {
        sent = send()
      } catch (error) {
        this.#host.release(this.held)
        return Effect.fail(unavailable(operation, error, this.#host.redact))
      }
      if (sent === undefined) {
        this.#host.release(this.held)
        return Effect.void
      }
      const pending = sent
      return Effect.tryPromise({
        try: () => pending,
        catch: (error) => unavailable(operation, error, this.#host.redact)
      }).pipe(
        // Settled or not, the server takes the message back (at once, or after its ack wait): it leaves the bound.
        Effect.ensuring(Effect.sync(() => this.#host.release(this.held))),
        Effect.asVoid
      )
    })
  }
}
