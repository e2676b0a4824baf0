import type { Delivery } from "../Transport.ts"

/** A delivery a consumer holds (queued or being handled), until it is released. */
export interface Hold {
  readonly delivery: Delivery
  /** When it was taken or last marked as worked on, in ms since the epoch. */
  since: number
}

/**
 * The deliveries a consumer holds, so that it can tell the broker it is still
 * working on those it has held long, before their ack wait passes and the
 * broker delivers them again. A delivery leaves as soon as it is released, so
 * that nothing settled is kept alive: a settled message kept until a later
 * sweep survives young-generation collections, which copy every survivor.
 */
export class KeepAlive {
  readonly #holds = new Set<Hold>()
  readonly #intervalMillis: number

  /** @param intervalMillis How long a delivery may be held before it is marked as worked on, in milliseconds. */
  constructor(intervalMillis: number) {
    this.#intervalMillis = intervalMillis
  }

  /** Ticks this often, in milliseconds, mark each delivery between one and one and a half intervals after the last mark. */
  get tickMillis(): number {
    return this.#intervalMillis / 2
  }

  take(delivery: Delivery, nowMillis: number): Hold {
    const hold: Hold = { delivery, since: nowMillis }
    this.#holds.add(hold)
    return hold
  }

  /** The delivery was settled, handed back or dead-lettered: no longer the consumer's to keep alive. */
  release(hold: Hold): void {
    this.#holds.delete(hold)
  }

  /** The deliveries to mark as worked on now: those held for at least one interval since their last mark. */
  due(nowMillis: number): Array<Delivery> {
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
    const held = Array.from(this.#holds, (hold) => hold.delivery)
    this.#holds.clear()
    return held
  }
}
