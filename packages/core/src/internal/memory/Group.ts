/**
 * A consumer group of the memory broker: its cursor over a topic's log, the deliveries it has not settled,
 * and the members that compete for them.
 *
 * Invariant: a message is in flight with at most one member at a time; every state change happens in one
 * synchronous call, so fibers never see a group half changed.
 *
 * Why: JetStream's consumer semantics, kept in the process, so that the conformance suite holds for both.
 */
import { type Cause, Duration, Effect, Queue } from "effect"
import type { StartPosition } from "../../StartPosition.ts"
import type { Delivery, DeliveryHistory, OutgoingRecord, SubscriptionOptions } from "../../Transport.ts"
import * as TransportDefaults from "../../TransportDefaults.ts"
import type { RemovalListener, TopicLog } from "./TopicLog.ts"

/** A member of a group: one subscription stream, with its own bound on unsettled deliveries. */
export class Member {
  inFlight = 0
  readonly queue: Queue.Queue<Delivery, Cause.Done>
  readonly maxInFlight: number
  constructor(queue: Queue.Queue<Delivery, Cause.Done>, maxInFlight: number) {
    this.queue = queue
    this.maxInFlight = maxInFlight
  }
}

/** Reads settlement policy from subscription options. */
export interface GroupPolicy {
  readonly ackWaitMs: ReadonlyArray<number>
  readonly maxDeliveries: number
}

export const policyOf = (options: Pick<SubscriptionOptions, "ackWait" | "backoff" | "maxDeliveries">): GroupPolicy => ({
  ackWaitMs: TransportDefaults.ackWaitsOf(options),
  maxDeliveries: options.maxDeliveries ?? Number.POSITIVE_INFINITY
})

/** Hooks a group needs from its broker: the clock and the timer. */
export interface GroupHost {
  now(): number
  /** A deadline was set; the timer must wake no later than `at`. */
  deadline(at: number): void
}

/**
 * A consumer group on one topic: a cursor over the log, the deliveries not yet
 * settled, and the members that compete for messages. All methods are
 * synchronous and run inside `Effect.sync`, so the group's state changes
 * atomically with respect to other fibers.
 */
export class Group implements RemovalListener {
  private cursor: number
  /** The latest delivery of each message delivered and not yet settled: in flight, delayed, or ready again. */
  private readonly entries = new Map<number, MemoryDelivery>()
  /** Sequences waiting for redelivery, ascending, so redeliveries keep publish order. */
  private readonly ready: Array<number> = []
  private readonly members: Array<Member> = []
  private nextMember = 0
  private missed = 0
  /** Interest retention: messages whose deliveries ran out unacknowledged; the group holds them still. */
  private readonly exhausted = new Set<number>()
  readonly log: TopicLog
  private policy: GroupPolicy
  private readonly host: GroupHost

  constructor(log: TopicLog, start: StartPosition, policy: GroupPolicy, host: GroupHost) {
    this.log = log
    this.policy = policy
    this.host = host
    this.cursor = startOf(log, start)
    log.listeners.add(this)
    log.hold(this.cursor)
  }

  get settings(): GroupPolicy {
    return this.policy
  }

  configure(policy: GroupPolicy): void {
    this.policy = policy
  }

  join(member: Member): void {
    this.members.push(member)
    this.pump()
  }

  /**
   * A member leaves. What it was handed but never emitted goes back at once,
   * without counting as an attempt; what it emitted stays in flight until settled
   * or until its ack wait passes.
   */
  leave(member: Member, unemitted: ReadonlyArray<Delivery>): void {
    const index = this.members.indexOf(member)
    if (index >= 0) this.members.splice(index, 1)
    for (const delivery of unemitted) {
      const entry = this.entries.get(delivery.sequence)
      if (entry !== delivery || entry.member !== member || entry.state !== "inFlight") continue
      entry.seen = false
      this.release(entry)
      this.makeReady(entry)
    }
    this.pump()
  }

  /** The log dropped a message: a group that had not received it yet missed it. */
  removed(sequence: number): void {
    if (this.cursor <= sequence) {
      this.cursor = sequence + 1
      this.missed++
    }
    const entry = this.entries.get(sequence)
    if (entry !== undefined && entry.state !== "inFlight") this.forget(entry)
    this.exhausted.delete(sequence)
  }

  /** Stops listening to the log and releases what it holds; for broadcast groups, which end with their subscription. */
  dispose(): void {
    this.log.listeners.delete(this)
    for (let sequence = Math.max(this.cursor, this.log.first); sequence <= this.log.last; sequence++)
      this.log.release(sequence)
    for (const sequence of [...this.entries.keys(), ...this.exhausted]) this.log.release(sequence)
    this.log.unhold()
  }

  lag(): { pending: number; inFlight: number; missed: number } {
    let inFlight = 0
    let waiting = 0
    for (const entry of this.entries.values()) {
      if (entry.state === "inFlight") inFlight++
      else waiting++
    }
    return { pending: Math.max(0, this.log.last - this.cursor + 1) + waiting, inFlight, missed: this.missed }
  }

  ack(sequence: number): void {
    // Like JetStream, a late ack from an earlier delivery still settles the message.
    const entry = this.entries.get(sequence)
    if (entry !== undefined) this.forget(entry)
    if (entry !== undefined || this.exhausted.delete(sequence)) this.log.release(sequence)
    this.pump()
  }

  term(sequence: number): void {
    this.ack(sequence)
  }

  /** Hands the delivery back, to deliver again after `delayMs`; with `failed`, its handler failed. */
  nak(delivery: MemoryDelivery, delayMs: number, failed: boolean): void {
    const entry = this.current(delivery)
    if (entry === undefined) return
    if (failed) entry.ended = "failed"
    this.release(entry)
    if (entry.deliveryCount >= this.policy.maxDeliveries) this.giveUp(entry)
    else if (delayMs > 0) {
      entry.state = "delayed"
      entry.due = this.host.now() + delayMs
      this.host.deadline(entry.due)
    } else this.makeReady(entry)
    this.pump()
  }

  working(delivery: MemoryDelivery): void {
    const entry = this.current(delivery)
    if (entry !== undefined) entry.due = this.host.now() + this.ackWaitOf(entry.deliveryCount)
  }

  /** Redelivers what passed its ack wait or nak delay; returns the earliest deadline still ahead. */
  tick(now: number): number {
    let next = Number.POSITIVE_INFINITY
    for (const entry of this.entries.values()) {
      if (entry.state === "ready") continue
      if (entry.due > now) {
        next = Math.min(next, entry.due)
        continue
      }
      if (entry.state === "inFlight") {
        entry.ended = "abandoned"
        this.release(entry)
        if (entry.deliveryCount >= this.policy.maxDeliveries) {
          this.giveUp(entry)
          continue
        }
      }
      this.makeReady(entry)
    }
    this.pump()
    return next
  }

  /** Hands messages to members with room, redeliveries first. */
  pump(): void {
    const members = this.members
    while (members.length > 0) {
      const member = this.memberWithRoom()
      if (member === undefined) return
      const sequence = this.ready.length > 0 ? (this.ready.shift() as number) : this.takeFromCursor()
      if (sequence === undefined) return
      const record = this.log.get(sequence)
      const previous = this.entries.get(sequence)
      if (record === undefined) {
        if (previous !== undefined) this.entries.delete(sequence)
        continue
      }
      const delivery = new MemoryDelivery(this, record, sequence, this.log.publishedAt(sequence), previous)
      delivery.member = member
      delivery.due = this.host.now() + this.ackWaitOf(delivery.deliveryCount)
      this.entries.set(sequence, delivery)
      member.inFlight++
      this.host.deadline(delivery.due)
      Queue.offerUnsafe(member.queue, delivery)
    }
  }

  private takeFromCursor(): number | undefined {
    if (this.cursor < this.log.first) {
      this.missed += this.log.first - this.cursor
      this.cursor = this.log.first
    }
    return this.cursor <= this.log.last ? this.cursor++ : undefined
  }

  private memberWithRoom(): Member | undefined {
    const count = this.members.length
    for (let i = 0; i < count; i++) {
      const index = (this.nextMember + i) % count
      const member = this.members[index] as Member
      if (member.inFlight < member.maxInFlight) {
        this.nextMember = (index + 1) % count
        return member
      }
    }
    return undefined
  }

  /** The delivery itself when it is still the message's current, unsettled one. */
  private current(delivery: MemoryDelivery): MemoryDelivery | undefined {
    return this.entries.get(delivery.sequence) === delivery && delivery.state === "inFlight" ? delivery : undefined
  }

  private ackWaitOf(deliveryCount: number): number {
    return TransportDefaults.ackWaitOf(this.policy.ackWaitMs, deliveryCount)
  }

  private release(entry: MemoryDelivery): void {
    if (entry.state === "inFlight" && entry.member !== undefined) entry.member.inFlight--
    entry.member = undefined
  }

  private forget(entry: MemoryDelivery): void {
    this.release(entry)
    if (entry.state === "ready") {
      const index = this.ready.indexOf(entry.sequence)
      if (index >= 0) this.ready.splice(index, 1)
    }
    this.entries.delete(entry.sequence)
  }

  /** Its deliveries ran out: no more of them, but on an interest topic the group still holds the message. */
  private giveUp(entry: MemoryDelivery): void {
    this.forget(entry)
    if (this.log.interest) this.exhausted.add(entry.sequence)
  }

  private makeReady(entry: MemoryDelivery): void {
    entry.state = "ready"
    const ready = this.ready
    let index = ready.length
    while (index > 0 && (ready[index - 1] as number) > entry.sequence) index--
    ready.splice(index, 0, entry.sequence)
  }
}

const startOf = (log: TopicLog, start: StartPosition): number => {
  switch (start._tag) {
    case "New":
      return log.last + 1
    case "All":
      return log.first
    case "Sequence":
      return Math.max(start.sequence, log.first)
    case "Time":
      return log.firstAtOrAfter(start.epochMillis)
  }
}

const NO_HISTORY: DeliveryHistory = { failures: 0, abandoned: 0 }

/**
 * A delivery from the memory broker. It is also the group's record of where
 * the message stands until it is settled, so a delivery costs one object.
 * Its controls are built only when used.
 */
class MemoryDelivery implements Delivery {
  readonly topic: string
  readonly sequence: number
  readonly id: string
  readonly key: string | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
  readonly publishedAt: number
  readonly deliveryCount: number
  /** What became of the earlier deliveries. */
  readonly past: DeliveryHistory
  /** In flight with a member, waiting out a nak delay, or ready to be delivered again. */
  state: "inFlight" | "delayed" | "ready" = "inFlight"
  /** When the ack wait (in flight) or the nak delay (delayed) ends, in epoch milliseconds. */
  due = 0
  member: Member | undefined = undefined
  /** False when the delivery was handed back before it was emitted: the next one keeps its count and history. */
  seen = true
  /** How this delivery ended, where the next one's history counts it. */
  ended: "failed" | "abandoned" | undefined = undefined
  private readonly group: Group

  /** @param previous The message's previous delivery to the group, whose count and history this one continues. */
  constructor(
    group: Group,
    record: OutgoingRecord,
    sequence: number,
    publishedAt: number,
    previous: MemoryDelivery | undefined
  ) {
    this.group = group
    this.topic = record.topic
    this.sequence = sequence
    this.id = record.id
    this.key = record.key
    this.headers = record.headers
    this.payload = record.payload
    this.publishedAt = publishedAt
    if (previous === undefined) {
      this.deliveryCount = 1
      this.past = NO_HISTORY
    } else if (!previous.seen) {
      this.deliveryCount = previous.deliveryCount
      this.past = previous.past
    } else {
      this.deliveryCount = previous.deliveryCount + 1
      this.past = {
        failures: previous.past.failures + (previous.ended === "failed" ? 1 : 0),
        abandoned: previous.past.abandoned + (previous.ended === "abandoned" ? 1 : 0)
      }
    }
  }

  get history(): Effect.Effect<DeliveryHistory> {
    return Effect.succeed(this.past)
  }

  get ack(): Effect.Effect<void> {
    return Effect.sync(() => this.group.ack(this.sequence))
  }

  nak(delay?: Duration.Input): Effect.Effect<void> {
    return Effect.sync(() => this.group.nak(this, delay === undefined ? 0 : Duration.toMillis(delay), false))
  }

  retry(delay?: Duration.Input): Effect.Effect<void> {
    return Effect.sync(() => this.group.nak(this, delay === undefined ? 0 : Duration.toMillis(delay), true))
  }

  get term(): Effect.Effect<void> {
    return Effect.sync(() => this.group.term(this.sequence))
  }

  get working(): Effect.Effect<void> {
    return Effect.sync(() => this.group.working(this))
  }

  /** What a log line shows: the message, not the group's state. */
  toJSON(): object {
    const { topic, sequence, id, key, headers, publishedAt, deliveryCount } = this
    return { topic, sequence, id, key, headers, payloadBytes: this.payload.byteLength, publishedAt, deliveryCount }
  }
}
