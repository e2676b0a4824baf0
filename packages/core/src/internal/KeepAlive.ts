import type { Delivery } from "../Transport.ts"

/**
 * The deliveries a consumer holds (queued or being handled), so that it can
 * tell the broker it is still working on those it has held long, before their
 * ack wait passes and the broker delivers them again. Taking and settling a
 * delivery is a map update; the deliveries are scanned once a tick.
 */
export class KeepAlive {
  /** Held deliveries, with when they were taken or last marked as worked on, in ms since the epoch. */
  readonly #held = new Map<Delivery, number>()
  readonly #intervalMillis: number

  /** @param intervalMillis How long a delivery may be held before it is marked as worked on, in milliseconds. */
  constructor(intervalMillis: number) {
    this.#intervalMillis = intervalMillis
  }

  /** Ticks this often, in milliseconds, mark each delivery between one and one and a half intervals after the last mark. */
  get tickMillis(): number {
    return this.#intervalMillis / 2
  }

  taken(delivery: Delivery, nowMillis: number): void {
    this.#held.set(delivery, nowMillis)
  }

  released(delivery: Delivery): void {
    this.#held.delete(delivery)
  }

  /** The deliveries to mark as worked on now: those held for at least one interval since their last mark. */
  due(nowMillis: number): Array<Delivery> {
    const due: Array<Delivery> = []
    for (const [delivery, since] of this.#held) {
      if (nowMillis - since >= this.#intervalMillis) {
        due.push(delivery)
        this.#held.set(delivery, nowMillis)
      }
    }
    return due
  }
}
