/**
 * How a consumer's fibers run: right after what woke them, on the microtask queue, instead of in a later
 * turn of the event loop.
 *
 * Messages from a broker wake a consumer inside the I/O callback that read them. Effect's default scheduler
 * runs the woken fibers in the next turn (`setImmediate`); by then the socket has been read again, so the
 * consumer holds hundreds of messages, whose bytes have left the processor's cache, and which survive
 * young-generation collections. Run from the microtask queue, the messages of a read are handled and
 * acknowledged before the next read, as a plain callback handles them, at less CPU per message (measured in
 * bench/README.md).
 *
 * Invariant: at most `budget` runs per turn start from the microtask queue; the rest wait for the next
 * turn, as by default, so that consumers cannot starve the event loop (a handler that yields in a loop, a
 * long backlog).
 */
import { Scheduler } from "effect"

/** A scheduler whose fibers run from the microtask queue, `budget` runs per turn of the event loop at most. */
export const promptScheduler = (budget: number): Scheduler.Scheduler => {
  let used = 0
  let resetPending = false
  const dispatch = (run: () => void): (() => void) => {
    let cancelled = false
    const task = () => {
      if (!cancelled) run()
    }
    if (!resetPending) {
      // The budget renews once per turn, in the phase after I/O callbacks.
      resetPending = true
      setImmediate(() => {
        used = 0
        resetPending = false
      })
    }
    if (used < budget) {
      used++
      queueMicrotask(task)
    } else setImmediate(task)
    return () => {
      cancelled = true
    }
  }
  return new Scheduler.MixedScheduler("async", dispatch)
}
