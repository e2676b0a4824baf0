import type { Delivery } from "../Transport.ts"

/** A delivery a consumer holds (queued or being handled), until it is released. */
export interface Hold {
  readonly delivery: Delivery
  /** When it was taken or last marked as worked on, in ms since the epoch. */
  since: number
  /** Settled, handed back or dead-lettered: no longer the consumer's to keep alive. */
  released: boolean
}

/**
 * The deliveries a consumer holds, so that it can tell the broker it is still
 * working on those it has held long, before their ack wait passes and the
 * broker delivers them again. Per message this is one small object and a flag:
 * the list is scanned once a tick, and pruned of released holds when it grows.
 */
export class KeepAlive {
  #holds: Array<Hold> = []
  readonly #intervalMillis: number
  readonly #pruneAt: number

  /**
   * @param intervalMillis How long a delivery may be held before it is marked as worked on, in milliseconds.
   * @param maxHeld Most deliveries held at once, a count: the list is pruned when it grows past twice that.
   */
  constructor(intervalMillis: number, maxHeld: number) {
    this.#intervalMillis = intervalMillis
    this.#pruneAt = 2 * maxHeld
  }

  /** Ticks this often, in milliseconds, mark each delivery between one and one and a half intervals after the last mark. */
  get tickMillis(): number {
    return this.#intervalMillis / 2
  }

  take(delivery: Delivery, nowMillis: number): Hold {
    const hold: Hold = { delivery, since: nowMillis, released: false }
    if (this.#holds.push(hold) > this.#pruneAt) this.#prune()
    return hold
  }

  /** The deliveries to mark as worked on now: those held for at least one interval since their last mark. */
  due(nowMillis: number): Array<Delivery> {
    this.#prune()
    const due: Array<Delivery> = []
    for (const hold of this.#holds) {
      if (nowMillis - hold.since >= this.#intervalMillis) {
        due.push(hold.delivery)
        hold.since = nowMillis
      }
    }
    return due
  }

  /** Releases every delivery still held and returns them. */
  releaseAll(): Array<Delivery> {
    this.#prune()
    const held = this.#holds.map((hold) => {
      hold.released = true
      return hold.delivery
    })
    this.#holds = []
    return held
  }

  #prune(): void {
    this.#holds = this.#holds.filter((hold) => !hold.released)
  }
}
