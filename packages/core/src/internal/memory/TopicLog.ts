import type { OutgoingRecord, PublishReceipt, TopicInfo, TopicSettings } from "../../Transport.ts"
import type { Held } from "../../TransportChecks.ts"
import { Deque } from "./Deque.ts"

/** Told when messages leave the log, so a group can count what it never received. */
export interface RemovalListener {
  removed(sequence: number): void
}

interface Limits {
  readonly maxMessages: number
  readonly maxBytes: number
  readonly maxAgeMs: number
  readonly discard: "old" | "new"
  readonly dedupWindowMs: number
}

const limitsOf = (settings: TopicSettings): Limits => ({
  maxMessages: settings.maxMessages ?? Number.POSITIVE_INFINITY,
  maxBytes: settings.maxBytes ?? Number.POSITIVE_INFINITY,
  maxAgeMs: settings.maxAge ?? Number.POSITIVE_INFINITY,
  discard: settings.discard,
  dedupWindowMs: settings.dedupWindow
})

/**
 * The append-only log of one topic: retention limits, dedup window by message
 * id, and sequence numbers. Removal happens only at the head (oldest first),
 * which a chunked deque does without copying.
 */
export class TopicLog {
  private current: TopicSettings
  private limits: Limits
  /** Stored records, oldest first, with their store times in epoch milliseconds. */
  private readonly messages = new Deque<OutgoingRecord>()
  private readonly times = new Deque<number>()
  private firstSequence = 1
  private lastSequence = 0
  private bytes = 0
  private expired = 0
  private discarded = 0
  /** Message id → sequence, for the ids stored within the dedup window. */
  private readonly ids = new Map<string, number>()
  /** The same ids with their store times, oldest first: pruning reads from the front. */
  private readonly idQueue = new Deque<string>()
  private readonly idTimes = new Deque<number>()
  readonly listeners = new Set<RemovalListener>()
  readonly name: string

  constructor(name: string, settings: TopicSettings) {
    this.name = name
    this.current = settings
    this.limits = limitsOf(settings)
  }

  get settings(): TopicSettings {
    return this.current
  }

  /**
   * New settings apply at once: what no longer fits is discarded, oldest first, whatever the discard policy;
   * what is older than the new maximum age expires.
   */
  configure(settings: TopicSettings, now: number): void {
    this.current = settings
    this.limits = limitsOf(settings)
    while (this.size > this.limits.maxMessages || this.bytes > this.limits.maxBytes) {
      this.removeFirst()
      this.discarded++
    }
    this.expire(now)
  }

  /** What a change of limits could remove. */
  held(): Held {
    return { messages: this.size, bytes: this.bytes, oldestAt: this.times.peek() }
  }

  get size(): number {
    return this.messages.length
  }

  get first(): number {
    return this.firstSequence
  }

  get last(): number {
    return this.lastSequence
  }

  get(sequence: number): OutgoingRecord | undefined {
    return this.messages.at(sequence - this.firstSequence)
  }

  /** When the message was stored, in epoch milliseconds; only for a sequence `get` finds. */
  publishedAt(sequence: number): number {
    return this.times.at(sequence - this.firstSequence) as number
  }

  /** The first sequence published at or after `epochMillis`; `last + 1` when there is none. */
  firstAtOrAfter(epochMillis: number): number {
    let low = 0
    let high = this.messages.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if ((this.times.at(middle) as number) < epochMillis) low = middle + 1
      else high = middle
    }
    return this.firstSequence + low
  }

  /** Stores a record, or says which limit rejects it. */
  append(record: OutgoingRecord, now: number): PublishReceipt | "messages" | "bytes" {
    this.pruneIds(now)
    // Publishing is atomic here (stored and confirmed, or neither), so an id that is unique by
    // construction can never come back: remembering it would only cost memory and time.
    const dedup = record.dedup !== false
    const seen = dedup ? this.ids.get(record.id) : undefined
    if (seen !== undefined) return { topic: this.name, sequence: seen, duplicate: true }
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
    this.messages.push(record)
    this.times.push(now)
    this.bytes += size
    if (dedup) {
      this.ids.set(record.id, sequence)
      this.idQueue.push(record.id)
      this.idTimes.push(now)
    }
    return { topic: this.name, sequence, duplicate: false }
  }

  /** Removes messages older than the topic's maximum age. */
  expire(now: number): void {
    const oldest = now - this.limits.maxAgeMs
    while (this.size > 0 && (this.times.peek() as number) <= oldest) {
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
    const record = this.messages.shift() as OutgoingRecord
    this.times.shift()
    const sequence = this.firstSequence++
    this.bytes -= record.payload.byteLength
    for (const listener of this.listeners) listener.removed(sequence)
  }

  private pruneIds(now: number): void {
    const oldest = now - this.limits.dedupWindowMs
    while (this.idTimes.length > 0 && (this.idTimes.peek() as number) <= oldest) {
      this.idTimes.shift()
      this.ids.delete(this.idQueue.shift() as string)
    }
  }
}
