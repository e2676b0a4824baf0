/**
 * Trapping the signals that ask a process to end (SIGTERM, SIGINT): at the first, a shutdown runs; once it
 * is done, the trap's listeners go and the signal is raised again, so that the process ends as the signal
 * would have made it end (killed by it, as its parent sees) unless other listeners of it remain, which then
 * decide, as they would have without Sluice. A second signal during the shutdown does that at once.
 *
 * Invariant: a trap acts on the first signal once, and leaves no listener behind.
 *
 * Why: a graceful stop must not change what a signal means to whoever sent it (a supervisor reads the exit
 * status), nor to the other code of the process that listens for it.
 */
import { constants } from "node:os"
import process from "node:process"
import { invalid, type Problem } from "./options.ts"

/** The signals trapped by default: a supervisor's stop (SIGTERM) and Ctrl-C (SIGINT). */
export const defaultSignals: ReadonlyArray<NodeJS.Signals> = ["SIGTERM", "SIGINT"]

/** Signals that no process can trap. */
const untrappable = new Set(["SIGKILL", "SIGSTOP"])

/** The problem with a list of signals to trap, if any. */
export const signalsProblem = (signals: unknown): Problem =>
  Array.isArray(signals) &&
  signals.length > 0 &&
  signals.every(
    (signal) => typeof signal === "string" && Object.hasOwn(constants.signals, signal) && !untrappable.has(signal)
  )
    ? undefined
    : invalid(
        "signals",
        signals,
        'a non-empty list of signal names that a process can trap, such as ["SIGTERM", "SIGINT"]'
      )

/** A trap set on signals. */
export interface Trap {
  /** Which signal it caught; `undefined` before any. */
  readonly caught: NodeJS.Signals | undefined
  /** Removes its listeners; once a signal was caught, the signal is no longer raised again either. */
  readonly uninstall: () => void
}

/**
 * Sets a trap on `signals` ({@link signalsProblem} accepts them): the first runs `shutdown` (and `onSignal`
 * with `"first"`); once `shutdown` settled, the listeners go and the signal is raised again. A second
 * signal meanwhile (`onSignal` with `"again"`) does so at once.
 */
export const trapSignals = (
  signals: ReadonlyArray<NodeJS.Signals>,
  shutdown: (signal: NodeJS.Signals) => Promise<unknown>,
  onSignal: (signal: NodeJS.Signals, which: "first" | "again") => void = () => undefined
): Trap => {
  let caught: NodeJS.Signals | undefined
  let uninstalled = false
  const removeListeners = () => {
    for (const signal of signals) process.removeListener(signal, listener)
  }
  /** The process ends as `signal` would have ended it: raised again, unless other listeners of it remain. */
  const end = (signal: NodeJS.Signals) => {
    removeListeners()
    if (uninstalled) return
    uninstalled = true
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  function listener(signal: NodeJS.Signals) {
    if (caught !== undefined) {
      onSignal(signal, "again")
      return end(signal)
    }
    caught = signal
    onSignal(signal, "first")
    shutdown(signal).then(
      () => end(signal),
      () => end(signal)
    )
  }
  for (const signal of signals) process.on(signal, listener)
  return {
    get caught() {
      return caught
    },
    uninstall: () => {
      uninstalled = true
      removeListeners()
    }
  }
}
