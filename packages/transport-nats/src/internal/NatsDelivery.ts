/**
 * A JetStream message as the port's `Delivery`: its settlements go to its ack subject through its host (the
 * subscriber that received it).
 *
 * Invariant: a delivery is settled once (a second ack, nak or term is ignored, as JetStream's client does),
 * and settling it frees its place in the subscriber's in-flight bound, whether or not the server heard.
 *
 * Why: acks and terms are fire-and-forget (a lost one means a redelivery, never a loss), so they join the
 * turn's other commands; a nak waits for the server, so that no pull made after it overtakes it.
 */
import type { Msg } from "@nats-io/transport-node"
import { type Errors, Logging, type Transport } from "@sluice/core"
import { type Duration, Effect } from "effect"
import type { AckSubjectInfo } from "./ackSubject.ts"
import { type DeliveryHistories, NOTHING_RECORDED, type Recorded } from "./DeliveryHistories.ts"
import { millis } from "./durations.ts"
import { unavailable } from "./errors.ts"
import type { Held } from "./Puller.ts"
import { labelsOf } from "./records.ts"
import type { Redactor } from "./secrets.ts"

/** What a delivery needs from its subscription. */
export interface DeliveryHost {
  /** The ack wait of delivery `deliveryCount` (1 for the first), in milliseconds. */
  readonly ackWaitMillis: (deliveryCount: number) => number
  /** Where what became of each delivery is kept. */
  readonly histories: DeliveryHistories
  /** The key of a message's history for this subscription's consumer. */
  readonly historyKey: (sequence: number) => string
  /** Sends a settlement to the server and waits for its confirmation. */
  readonly confirm: (subject: string, payload: string) => Promise<unknown>
  /** Sends a settlement to the server without waiting; throws when the connection is closed. */
  readonly send: (subject: Uint8Array, payload: Uint8Array) => void
  /** The delivery no longer counts against the subscriber's in-flight bound. */
  readonly release: (held: Held) => void
  readonly redact: Redactor
  /** The group of the subscription; `undefined` for a broadcast subscription. */
  readonly group: string | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** The settlements sent without waiting, as they are sent. */
const ACK = encoder.encode("+ACK")
const TERM = encoder.encode("+TERM")
const WORKING = encoder.encode("+WPI")

/**
 * A JetStream message as a {@link Delivery}: a NATS message whose reply subject is its ack subject.
 * Settling it sends the ack, nak or term at once, an ack or term with the other commands of its turn
 * (JetStream acks are fire-and-forget; a lost one means a redelivery, never a loss), and frees its place in
 * the subscriber's in-flight bound. Its headers are decoded when first read: many handlers never do.
 */
export class NatsDelivery implements Transport.Delivery {
  readonly topic: string
  readonly sequence: number
  readonly payload: Uint8Array
  readonly publishedAt: number
  readonly deliveryCount: number
  readonly held: Held
  readonly #message: Msg
  /** Where settlements go: the message's reply subject, as it arrived. */
  readonly #ackSubject: Uint8Array
  readonly #host: DeliveryHost
  #labels: ReturnType<typeof labelsOf> | undefined
  /** What the bucket recorded of the earlier deliveries, read once. */
  #recorded: Promise<Recorded> | undefined
  #settled = false

  /**
   * @param ackSubject The message's reply subject: only a message with one is a delivery.
   * @param info What its ack subject says.
   */
  constructor(topic: string, message: Msg, ackSubject: Uint8Array, info: AckSubjectInfo, host: DeliveryHost) {
    this.topic = topic
    this.sequence = info.streamSequence
    this.payload = message.data
    this.publishedAt = info.publishedAtMillis
    this.deliveryCount = info.deliveryCount
    this.held = { deadline: Date.now() + host.ackWaitMillis(this.deliveryCount), released: false }
    this.#message = message
    this.#ackSubject = ackSubject
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

  get ack(): Effect.Effect<void, Errors.TransportError> {
    return Effect.suspend(() => this.#sendOnce("ack"))
  }

  /** Read from the bucket: the deliveries the record does not count as failed or handed back were abandoned. */
  get history(): Effect.Effect<Transport.DeliveryHistory, Errors.TransportError> {
    return Effect.tryPromise({
      try: () => this.#recordedOnce(),
      catch: (error) => unavailable("read the delivery history", error, this.#host.redact)
    }).pipe(
      Effect.map((recorded) => ({
        failures: recorded.failures,
        abandoned: Math.max(0, this.deliveryCount - 1 - recorded.failures - recorded.handedBack)
      }))
    )
  }

  nak(delay?: Duration.Input): Effect.Effect<void, Errors.TransportError> {
    return this.#handBack(delay, "handedBack")
  }

  retry(delay?: Duration.Input): Effect.Effect<void, Errors.TransportError> {
    return this.#handBack(delay, "failures")
  }

  /**
   * Records how this delivery ended, then sends the nak. The nak waits for the server's confirmation before
   * the subscriber pulls again: the server queues settlements, and a pull it saw first would deliver a later
   * message before this one. A record that cannot be written leaves this delivery to count as abandoned.
   */
  #handBack(delay: Duration.Input | undefined, ended: keyof Recorded): Effect.Effect<void, Errors.TransportError> {
    const payload =
      delay === undefined
        ? "-NAK"
        : `-NAK ${JSON.stringify({ delay: Math.max(0, Math.round(millis(delay))) * 1_000_000 })}`
    return Effect.suspend(() => {
      if (this.#settled) return Effect.void
      this.#settled = true
      const recorded = Effect.tryPromise({
        try: () => this.#record(ended),
        catch: (error) => unavailable("record the delivery", error, this.#host.redact)
      }).pipe(
        Effect.catch((error) =>
          Effect.logWarning(
            `message ${this.id} of ${this.topic}: ${error.message}; its next delivery counts this one as abandoned`
          ).pipe(Effect.annotateLogs(Logging.messageFields(this.topic, this.#host.group, this.id)))
        )
      )
      const sent = Effect.tryPromise({
        try: () => this.#host.confirm(decoder.decode(this.#ackSubject), payload),
        catch: (error) => unavailable("nak", error, this.#host.redact)
      })
      return Effect.andThen(recorded, sent).pipe(
        // Settled or not, the server takes the message back (at once, or after its ack wait): it leaves the bound.
        Effect.ensuring(Effect.sync(() => this.#host.release(this.held))),
        Effect.asVoid
      )
    })
  }

  /** The record of the earlier deliveries: nothing on the first one, else read from the bucket once. */
  #recordedOnce(): Promise<Recorded> {
    if (this.deliveryCount === 1) return Promise.resolve(NOTHING_RECORDED)
    this.#recorded ??= this.#host.histories.read(this.#host.historyKey(this.sequence))
    return this.#recorded
  }

  async #record(ended: keyof Recorded): Promise<void> {
    const before = await this.#recordedOnce()
    await this.#host.histories.write(this.#host.historyKey(this.sequence), { ...before, [ended]: before[ended] + 1 })
  }

  get term(): Effect.Effect<void, Errors.TransportError> {
    return Effect.suspend(() => this.#sendOnce("term"))
  }

  get working(): Effect.Effect<void, Errors.TransportError> {
    return Effect.try({
      try: () => {
        this.#host.send(this.#ackSubject, WORKING)
        this.held.deadline = Date.now() + this.#host.ackWaitMillis(this.deliveryCount)
      },
      catch: (error) => unavailable("working", error, this.#host.redact)
    })
  }

  /**
   * Sends an ack or a plain term, once (a second settlement is ignored, as JetStream's client does); a
   * term reason is ignored by nats-server 2.9, which then redelivers the message. Either is sent without
   * waiting for the server: a lost one means a redelivery, never a loss. Runs once per message: no callbacks.
   */
  #sendOnce(operation: "ack" | "term"): Effect.Effect<void, Errors.TransportError> {
    if (this.#settled) return Effect.void
    this.#settled = true
    try {
      this.#host.send(this.#ackSubject, operation === "ack" ? ACK : TERM)
      return Effect.void
    } catch (error) {
      return Effect.fail(unavailable(operation, error, this.#host.redact))
    } finally {
      this.#host.release(this.held)
    }
  }
}
