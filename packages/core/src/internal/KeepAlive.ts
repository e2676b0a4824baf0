import type { Delivery } from "../Transport.ts"

/**
 * The deliveries whose handlers are running, so that a consumer can tell the
 * broker it is still working on those that run long (before their ack wait
 * passes and the broker delivers them again). Starting and finishing a
 * handler is a map update; time is only read by {@link KeepAlive.due}, once a tick.
 */
export class KeepAlive {
  /** Running deliveries, with when they were last seen by a tick (undefined: not yet). */
  readonly #running = new Map<Delivery, number | undefined>()
  readonly #intervalMillis: number

  /** @param intervalMillis How long a handler may run before its delivery is marked as worked on, in milliseconds. */
  constructor(intervalMillis: number) {
    this.#intervalMillis = intervalMillis
  }

  started(delivery: Delivery): void {
    this.#running.set(delivery, undefined)
  }

  finished(delivery: Delivery): void {
    this.#running.delete(delivery)
  }

  /**
   * The deliveries to mark as worked on now: those running for at least one interval since they were
   * last marked (or first seen). Called once an interval, so a delivery is marked within two intervals.
   */
  due(nowMillis: number): Array<Delivery> {
    const due: Array<Delivery> = []
    for (const [delivery, seen] of this.#running) {
      if (seen === undefined) this.#running.set(delivery, nowMillis)
      else if (nowMillis - seen >= this.#intervalMillis) {
        due.push(delivery)
        this.#running.set(delivery, nowMillis)
      }
    }
    return due
  }
}
