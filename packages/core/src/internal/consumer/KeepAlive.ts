/**
 * The deliveries a consumer holds, from the moment they arrive until they are settled, and when each
 * handler started.
 *
 * Invariant: a delivery held for a working interval is marked as worked on before its ack wait passes; one
 * released is kept alive no more.
 *
 * Why: a message queued behind a long handler must not be delivered again while it waits.
 */
import type { Fiber } from "effect"
import type { Delivery } from "../../Transport.ts"

/** A delivery a consumer holds (queued or being handled), until it is released. */
export interface Hold {
  readonly delivery: Delivery
  /** When it was taken or last marked as worked on, in ms since the epoch. */
  since: number
  /** Which try of the handler it is, once started. */
  attempt: number
  /** When its handler started, in ms since the epoch; `undefined` while it waits. */
  startedAt: number | undefined
  /** The fiber its handler runs on, once started. */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Its neighbours among the holds, in the order taken; `null` at either end. */
  previous: Hold | null
  next: Hold | null
  released: boolean
}

/**
 * The deliveries a consumer holds, so that it can tell the broker it is still
 * working on those it has held long, before their ack wait passes and the
 * broker delivers them again. A delivery leaves as soon as it is released, so
 * that nothing settled is kept alive: a settled message kept until a later
 * sweep survives young-generation collections, which copy every survivor.
 * The holds form a list linked through themselves: taking and releasing, once
 * per message each, cost a few writes, where a `Set` hashes every hold.
 */
export class KeepAlive {
  #first: Hold | null = null
  #last: Hold | null = null
  readonly #intervalMillis: number

  /** @param intervalMillis How long a delivery may be held before it is marked as worked on, in milliseconds. */
  constructor(intervalMillis: number) {
    this.#intervalMillis = intervalMillis
  }

  /** Ticks this often, in milliseconds, mark each delivery between one and one and a half intervals after the last mark. */
  get tickMillis(): number {
    return this.#intervalMillis / 2
  }

  /** The holds whose handler has run for `limitMillis` or longer. */
  overdue(nowMillis: number, limitMillis: number): Array<Hold> {
    const overdue: Array<Hold> = []
    for (let hold = this.#first; hold !== null; hold = hold.next)
      if (hold.startedAt !== undefined && nowMillis - hold.startedAt >= limitMillis) overdue.push(hold)
    return overdue
  }

  take(delivery: Delivery, nowMillis: number): Hold {
    const hold: Hold = {
      delivery,
      since: nowMillis,
      attempt: 0,
      startedAt: undefined,
      fiber: undefined,
      previous: this.#last,
      next: null,
      released: false
    }
    if (this.#last === null) this.#first = hold
    else this.#last.next = hold
    this.#last = hold
    return hold
  }

  /** The delivery was settled, handed back or dead-lettered: no longer the consumer's to keep alive. */
  release(hold: Hold): void {
    if (hold.released) return
    hold.released = true
    if (hold.previous === null) this.#first = hold.next
    else hold.previous.next = hold.next
    if (hold.next === null) this.#last = hold.previous
    else hold.next.previous = hold.previous
    hold.previous = null
    hold.next = null
  }

  /** The deliveries to mark as worked on now: those held for at least one interval since their last mark. */
  due(nowMillis: number): Array<Delivery> {
    const due: Array<Delivery> = []
    for (let hold = this.#first; hold !== null; hold = hold.next) {
      if (nowMillis - hold.since >= this.#intervalMillis) {
        due.push(hold.delivery)
        hold.since = nowMillis
      }
    }
    return due
  }

  /** Releases every delivery still held and returns them, in the order taken. */
  releaseAll(): Array<Delivery> {
    const held: Array<Delivery> = []
    while (this.#first !== null) {
      held.push(this.#first.delivery)
      this.release(this.#first)
    }
    return held
  }
}
