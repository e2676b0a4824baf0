import { Duration, Effect, Queue } from "effect"
import type { Delivery, StartPosition, SubscriptionOptions } from "../../Transport.ts"
import type { RemovalListener, StoredMessage, TopicLog } from "./TopicLog.ts"

const DEFAULT_MAX_IN_FLIGHT = 1000
const DEFAULT_ACK_WAIT_MS = 30_000

/** A member of a group: one subscription stream, with its own bound on unsettled deliveries. */
export class Member {
  inFlight = 0
  readonly queue: Queue.Queue<Delivery>
  readonly maxInFlight: number
  constructor(queue: Queue.Queue<Delivery>, maxInFlight: number) {
    this.queue = queue
    this.maxInFlight = maxInFlight
  }
}

/** Where a delivered message stands in its group. */
interface Entry {
  readonly sequence: number
  /** Deliveries so far; 0 when a delivery was handed back before anyone saw it. */
  attempt: number
  state: "inFlight" | "delayed" | "ready"
  /** When the ack wait (in flight) or the nak delay (delayed) ends, in epoch milliseconds. */
  due: number
  member: Member | undefined
  /** Changes on every delivery, so a settlement knows whether it answers the current one. */
  delivery: number
}

/** Reads settlement policy from subscription options. */
export interface GroupPolicy {
  readonly ackWaitMs: ReadonlyArray<number>
  readonly maxDeliveries: number
}

export const policyOf = (options: SubscriptionOptions): GroupPolicy => ({
  ackWaitMs:
    options.backoff !== undefined && options.backoff.length > 0
      ? options.backoff.map(Duration.toMillis)
      : [options.ackWait === undefined ? DEFAULT_ACK_WAIT_MS : Duration.toMillis(options.ackWait)],
  maxDeliveries: options.maxDeliveries ?? Number.POSITIVE_INFINITY
})

export const maxInFlightOf = (options: SubscriptionOptions): number => options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT

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
  private readonly entries = new Map<number, Entry>()
  /** Sequences waiting for redelivery, ascending, so redeliveries keep publish order. */
  private readonly ready: Array<number> = []
  private readonly members: Array<Member> = []
  private nextMember = 0
  private deliveries = 0
  private missed = 0
  readonly log: TopicLog
  readonly name: string
  private policy: GroupPolicy
  private readonly host: GroupHost

  constructor(log: TopicLog, name: string, start: StartPosition, policy: GroupPolicy, host: GroupHost) {
    this.log = log
    this.name = name
    this.policy = policy
    this.host = host
    this.cursor = startOf(log, start)
    log.listeners.add(this)
  }

  get memberCount(): number {
    return this.members.length
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
      if (entry === undefined || entry.member !== member || entry.state !== "inFlight") continue
      entry.attempt--
      entry.member = undefined
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
  }

  /** Stops listening to the log; for broadcast groups, which end with their subscription. */
  dispose(): void {
    this.log.listeners.delete(this)
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
    this.pump()
  }

  term(sequence: number): void {
    this.ack(sequence)
  }

  nak(sequence: number, delivery: number, delayMs: number): void {
    const entry = this.current(sequence, delivery)
    if (entry === undefined) return
    this.release(entry)
    if (entry.attempt >= this.policy.maxDeliveries) this.forget(entry)
    else if (delayMs > 0) {
      entry.state = "delayed"
      entry.due = this.host.now() + delayMs
      this.host.deadline(entry.due)
    } else this.makeReady(entry)
    this.pump()
  }

  working(sequence: number, delivery: number): void {
    const entry = this.current(sequence, delivery)
    if (entry !== undefined) entry.due = this.host.now() + this.ackWaitOf(entry.attempt)
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
        this.release(entry)
        if (entry.attempt >= this.policy.maxDeliveries) {
          this.forget(entry)
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
      const message = this.log.get(sequence)
      const existing = this.entries.get(sequence)
      if (message === undefined) {
        if (existing !== undefined) this.entries.delete(sequence)
        continue
      }
      const entry: Entry = existing ?? {
        sequence,
        attempt: 0,
        state: "inFlight",
        due: 0,
        member: undefined,
        delivery: 0
      }
      if (existing === undefined) this.entries.set(sequence, entry)
      entry.attempt++
      entry.state = "inFlight"
      entry.member = member
      entry.delivery = ++this.deliveries
      entry.due = this.host.now() + this.ackWaitOf(entry.attempt)
      member.inFlight++
      this.host.deadline(entry.due)
      Queue.offerUnsafe(member.queue, new MemoryDelivery(this, message, entry.attempt, entry.delivery))
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

  private current(sequence: number, delivery: number): Entry | undefined {
    const entry = this.entries.get(sequence)
    return entry !== undefined && entry.state === "inFlight" && entry.delivery === delivery ? entry : undefined
  }

  private ackWaitOf(attempt: number): number {
    const waits = this.policy.ackWaitMs
    return waits[Math.min(attempt, waits.length) - 1] as number
  }

  private release(entry: Entry): void {
    if (entry.state === "inFlight" && entry.member !== undefined) entry.member.inFlight--
    entry.member = undefined
  }

  private forget(entry: Entry): void {
    this.release(entry)
    if (entry.state === "ready") {
      const index = this.ready.indexOf(entry.sequence)
      if (index >= 0) this.ready.splice(index, 1)
    }
    this.entries.delete(entry.sequence)
  }

  private makeReady(entry: Entry): void {
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

/** A delivery from the memory broker; its controls are built only when used. */
class MemoryDelivery implements Delivery {
  readonly topic: string
  readonly sequence: number
  readonly id: string
  readonly key: string | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
  readonly publishedAt: number
  readonly attempt: number
  private readonly group: Group
  private readonly delivery: number

  constructor(group: Group, message: StoredMessage, attempt: number, delivery: number) {
    this.group = group
    this.attempt = attempt
    this.delivery = delivery
    this.topic = group.log.name
    this.sequence = message.sequence
    this.id = message.id
    this.key = message.key
    this.headers = message.headers
    this.payload = message.payload
    this.publishedAt = message.publishedAt
  }

  get ack(): Effect.Effect<void> {
    return Effect.sync(() => this.group.ack(this.sequence))
  }

  nak(delay?: Duration.Input): Effect.Effect<void> {
    return Effect.sync(() =>
      this.group.nak(this.sequence, this.delivery, delay === undefined ? 0 : Duration.toMillis(delay))
    )
  }

  get term(): Effect.Effect<void> {
    return Effect.sync(() => this.group.term(this.sequence))
  }

  get working(): Effect.Effect<void> {
    return Effect.sync(() => this.group.working(this.sequence, this.delivery))
  }

  /** What a log line shows: the message, not the group's state. */
  toJSON(): object {
    const { topic, sequence, id, key, headers, publishedAt, attempt } = this
    return { topic, sequence, id, key, headers, payloadBytes: this.payload.byteLength, publishedAt, attempt }
  }
}
