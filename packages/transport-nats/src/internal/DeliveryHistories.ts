/**
 * What became of the earlier deliveries of messages to a consumer, kept in a KV bucket: per message and
 * consumer, how many deliveries ended in a handler failure and how many a member handed back. JetStream's
 * delivery count counts every delivery; the ones neither failed nor handed back were abandoned (a crash, an
 * overrun ack wait).
 *
 * Invariant: a delivery's record is written before the nak that ends it is sent, so the next delivery of
 * the message reads it. A message with no record was never failed nor handed back: all its earlier
 * deliveries were abandoned, which bounds a message that crashes every consumer.
 *
 * Why: a rolling restart hands messages back, and must not spend their attempts; only Sluice knows which
 * deliveries failed.
 */
import { type KV, Kvm } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"

/** What the bucket keeps of a message's deliveries to one consumer. */
export interface Recorded {
  /** Deliveries that ended in a handler failure. */
  readonly failures: number
  /** Deliveries a member handed back without handling them. */
  readonly handedBack: number
}

export const NOTHING_RECORDED: Recorded = { failures: 0, handedBack: 0 }

/** Where the bucket is and how long it keeps a record. */
export interface DeliveryHistoriesOptions {
  readonly bucket: string
  /** How long a record is kept after it was last written, in milliseconds. */
  readonly ttlMillis: number
  readonly replicas: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class DeliveryHistories {
  readonly #connection: NatsConnection
  readonly #options: DeliveryHistoriesOptions
  /** The bucket, created on first use; forgotten when that failed, so that the next use tries again. */
  #bucket: Promise<KV> | undefined

  constructor(connection: NatsConnection, options: DeliveryHistoriesOptions) {
    this.#connection = connection
    this.#options = options
  }

  /** The key of a message's record for a consumer: the topic's name, the consumer's, and the sequence. */
  static keyOf(topic: string, consumer: string, sequence: number): string {
    return `${topic}.${consumer}.${sequence}`
  }

  /** The record under `key`; nothing recorded when there is none. */
  async read(key: string): Promise<Recorded> {
    const entry = await (await this.#open()).get(key)
    if (entry === null || entry.operation !== "PUT") return NOTHING_RECORDED
    const recorded = JSON.parse(decoder.decode(entry.value)) as Partial<Recorded>
    return { failures: recorded.failures ?? 0, handedBack: recorded.handedBack ?? 0 }
  }

  /** Replaces the record under `key`. */
  async write(key: string, recorded: Recorded): Promise<void> {
    await (await this.#open()).put(key, encoder.encode(JSON.stringify(recorded)))
  }

  #open(): Promise<KV> {
    if (this.#bucket === undefined) {
      const { bucket, ttlMillis, replicas } = this.#options
      this.#bucket = new Kvm(this.#connection).create(bucket, { history: 1, ttl: ttlMillis, replicas })
      this.#bucket.catch(() => {
        this.#bucket = undefined
      })
    }
    return this.#bucket
  }
}
