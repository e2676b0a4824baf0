import { Duration } from "effect"
import type { OutgoingRecord, PublishReceipt, TopicConfig, TopicInfo } from "../../Transport.ts"

/** A message as the memory broker stores it. */
export interface StoredMessage {
  readonly sequence: number
  readonly id: string
  readonly key: string | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
  readonly publishedAt: number
}

/** Told when messages leave the log, so a group can count what it never received. */
export interface RemovalListener {
  removed(sequence: number): void
}

const DEFAULT_DEDUP_WINDOW_MS = 120_000

interface Limits {
  readonly maxMessages: number
  readonly maxBytes: number
  readonly maxAgeMs: number
  readonly discard: "old" | "new"
  readonly dedupWindowMs: number
}

const limitsOf = (config: TopicConfig): Limits => ({
  maxMessages: config.maxMessages ?? Number.POSITIVE_INFINITY,
  maxBytes: config.maxBytes ?? Number.POSITIVE_INFINITY,
  maxAgeMs: config.maxAge === undefined ? Number.POSITIVE_INFINITY : Duration.toMillis(config.maxAge),
  discard: config.discard ?? "old",
  dedupWindowMs: config.dedupWindow === undefined ? DEFAULT_DEDUP_WINDOW_MS : Duration.toMillis(config.dedupWindow)
})

/**
 * The append-only log of one topic: retention limits, dedup window by message
 * id, and sequence numbers. Removal happens only at the head (oldest first),
 * so the log is an array with a moving start that is compacted now and then.
 */
export class TopicLog {
  private limits: Limits
  private messages: Array<StoredMessage> = []
  private head = 0
  private firstSequence = 1
  private lastSequence = 0
  private bytes = 0
  private expired = 0
  private discarded = 0
  /** Message id → sequence and store time; insertion order is time order, so pruning reads from the front. */
  private readonly ids = new Map<string, { readonly sequence: number; readonly at: number }>()
  readonly listeners = new Set<RemovalListener>()
  readonly name: string

  constructor(name: string, config: TopicConfig) {
    this.name = name
    this.limits = limitsOf(config)
  }

  configure(config: TopicConfig): void {
    this.limits = limitsOf(config)
  }

  get size(): number {
    return this.messages.length - this.head
  }

  get first(): number {
    return this.firstSequence
  }

  get last(): number {
    return this.lastSequence
  }

  get(sequence: number): StoredMessage | undefined {
    if (sequence < this.firstSequence) return undefined
    return this.messages[this.head + (sequence - this.firstSequence)]
  }

  /** The first sequence published at or after `epochMillis`; `last + 1` when there is none. */
  firstAtOrAfter(epochMillis: number): number {
    let low = this.head
    let high = this.messages.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if ((this.messages[middle] as StoredMessage).publishedAt < epochMillis) low = middle + 1
      else high = middle
    }
    return this.firstSequence + (low - this.head)
  }

  /** Stores a record, or says which limit rejects it. */
  append(record: OutgoingRecord, now: number): PublishReceipt | "messages" | "bytes" {
    this.pruneIds(now)
    const seen = this.ids.get(record.id)
    if (seen !== undefined) return { topic: this.name, sequence: seen.sequence, duplicate: true }
    const size = record.payload.byteLength
    const { maxMessages, maxBytes, discard } = this.limits
    if (discard === "new") {
      if (this.size + 1 > maxMessages) return "messages"
      if (this.bytes + size > maxBytes) return "bytes"
    } else {
      while (this.size > 0 && (this.size + 1 > maxMessages || this.bytes + size > maxBytes)) {
        this.removeFirst()
        this.discarded++
      }
    }
    const sequence = ++this.lastSequence
    this.messages.push({
      sequence,
      id: record.id,
      key: record.key,
      headers: record.headers,
      payload: record.payload,
      publishedAt: now
    })
    this.bytes += size
    this.ids.set(record.id, { sequence, at: now })
    return { topic: this.name, sequence, duplicate: false }
  }

  /** Removes messages older than the topic's maximum age. */
  expire(now: number): void {
    const oldest = now - this.limits.maxAgeMs
    while (this.size > 0 && (this.messages[this.head] as StoredMessage).publishedAt <= oldest) {
      this.removeFirst()
      this.expired++
    }
  }

  info(): TopicInfo {
    return {
      name: this.name,
      messages: this.size,
      bytes: this.bytes,
      firstSequence: this.firstSequence,
      lastSequence: this.lastSequence,
      expired: this.expired,
      discarded: this.discarded
    }
  }

  private removeFirst(): void {
    const message = this.messages[this.head] as StoredMessage
    this.head++
    this.firstSequence++
    this.bytes -= message.payload.byteLength
    if (this.head >= 1024 && this.head * 2 >= this.messages.length) {
      this.messages = this.messages.slice(this.head)
      this.head = 0
    }
    for (const listener of this.listeners) listener.removed(message.sequence)
  }

  private pruneIds(now: number): void {
    const oldest = now - this.limits.dedupWindowMs
    for (const [id, seen] of this.ids) {
      if (seen.at > oldest) return
      this.ids.delete(id)
    }
  }
}
