/**
 * The append-only log of one memory topic: its messages, their sequences, its retention and dedup window.
 *
 * Invariant: sequences only grow; a message leaves only by retention (oldest first, or once every
 * interested group acknowledged it), and every group is told.
 *
 * Why: a log and cursors, as JetStream keeps a stream and consumers.
 */
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
 * id, and sequence numbers. Limits remove at the head (oldest first), which a
 * chunked deque does without copying. Interest retention removes a message
 * wherever it stands once no group holds it: its slot is emptied at once (the
 * record is garbage) and leaves the deque when it reaches the head, so memory
 * follows the messages still held, plus a few bytes a slot behind the oldest.
 */
export class TopicLog {
  private current: TopicSettings
  private limits: Limits
  /** Stored records, oldest first (an emptied slot is `undefined`), with their store times in epoch milliseconds. */
  private readonly messages = new Deque<OutgoingRecord | undefined>()
  private readonly times = new Deque<number>()
  /** Interest retention: how many groups hold each slot's message. */
  private readonly holders = new Deque<number>()
  /** Interest retention: the groups that hold every message stored from now on. */
  private interested = 0
  private firstSequence = 1
  private lastSequence = 0
  /** Messages stored now: the slots not emptied. */
  private count = 0
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
    return this.count
  }

  /** Messages leave when no group holds them any more (JetStream's interest retention), besides the limits. */
  get interest(): boolean {
    return this.current.retention === "interest"
  }

  /**
   * A group now holds, until it releases them, the messages stored from `from` on and every message stored
   * later; a new group on an interest topic (elsewhere nothing is counted).
   */
  hold(from: number): void {
    if (!this.interest) return
    this.interested++
    for (let index = Math.max(0, from - this.firstSequence); index < this.messages.length; index++) {
      if (this.messages.at(index) !== undefined) this.holders.set(index, (this.holders.at(index) as number) + 1)
    }
  }

  /** A group that held `sequence` no longer does (it acked or termed it, or it is gone); the last one removes it. */
  release(sequence: number): void {
    if (!this.interest) return
    const index = sequence - this.firstSequence
    if (index < 0 || index >= this.messages.length || this.messages.at(index) === undefined) return
    const holders = (this.holders.at(index) as number) - 1
    this.holders.set(index, holders)
    if (holders === 0) this.empty(index)
  }

  /** A group is gone: it holds nothing stored from now on (what it held before it releases one by one). */
  unhold(): void {
    if (this.interest) this.interested--
  }

  get first(): number {
    return this.firstSequence
  }

  get last(): number {
    return this.lastSequence
  }

  /** The record at `sequence`, while it is stored. */
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
    this.count++
    this.bytes += size
    // Interest retention keeps a message only for the groups that exist; as JetStream, it then confirms a
    // republished duplicate of one no group held with sequence 0.
    const unheld = this.interest && this.interested === 0
    if (this.interest) this.holders.push(this.interested)
    if (dedup) {
      this.ids.set(record.id, unheld ? 0 : sequence)
      this.idQueue.push(record.id)
      this.idTimes.push(now)
    }
    if (unheld) this.empty(this.messages.length - 1)
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

  /** Removes the oldest message (the head is never an emptied slot), telling the groups. */
  private removeFirst(): void {
    const record = this.shift() as OutgoingRecord
    const sequence = this.firstSequence - 1
    this.count--
    this.bytes -= record.payload.byteLength
    for (const listener of this.listeners) listener.removed(sequence)
    this.trim()
  }

  /**
   * Interest retention removes the message in slot `index`: no group holds it, so none is told. Its record is
   * garbage at once; its slot leaves once it is the oldest.
   */
  private empty(index: number): void {
    const record = this.messages.at(index) as OutgoingRecord
    this.messages.set(index, undefined)
    this.count--
    this.bytes -= record.payload.byteLength
    if (index === 0) this.trim()
  }

  /** Drops the emptied slots at the head. */
  private trim(): void {
    while (this.messages.length > 0 && this.messages.peek() === undefined) this.shift()
  }

  private shift(): OutgoingRecord | undefined {
    this.firstSequence++
    this.times.shift()
    if (this.interest) this.holders.shift()
    return this.messages.shift()
  }

  private pruneIds(now: number): void {
    const oldest = now - this.limits.dedupWindowMs
    while (this.idTimes.length > 0 && (this.idTimes.peek() as number) <= oldest) {
      this.idTimes.shift()
      this.ids.delete(this.idQueue.shift() as string)
    }
  }
}
