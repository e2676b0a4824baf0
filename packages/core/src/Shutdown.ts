/**
 * Ending an Effect program gracefully on SIGTERM and SIGINT: {@link runMain} runs it and interrupts it at the
 * first signal, so that its scope closes (the consumers in it stop gracefully: running handlers finish within
 * their `stopTimeout` and are acknowledged, the rest goes back to the broker at once), then ends the process
 * as the signal would have. A second signal meanwhile ends it at once.
 *
 * ```ts
 * Shutdown.runMain(program.pipe(Effect.scoped, Effect.provide(BusLive)))
 * ```
 *
 * `NodeRuntime.runMain` of `@effect/platform-node` does the same first part, and ends the process with exit
 * code 130 instead of the signal; use it where your program runs on it already. The Promise face's
 * equivalent is `sluice.closeOnSignals()`.
 *
 * Invariant: the process ends only after the program's scope has closed, or at a second signal.
 *
 * Why here: core does not depend on `@effect/platform-node`, and a Sluice service needs no more of it.
 */
import process from "node:process"
import { type Effect, Runtime } from "effect"
import { defaultSignals, signalsProblem, trapSignals } from "./internal/signals.ts"

/** Options of {@link runMain}. */
export interface RunMainOptions {
  /** The signals that interrupt the program. Default `["SIGTERM", "SIGINT"]`. */
  readonly signals?: ReadonlyArray<NodeJS.Signals>
  /** Leaves out the log line of a program that failed (Effect's `runMain` logs its cause by default). */
  readonly disableErrorReporting?: boolean
}

/**
 * Runs `program` as the process's main program:
 *
 * - At the first of `signals`, it interrupts the program, whose scope closes then (consumers stop
 *   gracefully), and once the program ended, raises the signal again: the process ends as the signal would
 *   have made it end (its parent sees it killed by that signal), unless other listeners of the signal remain,
 *   which then decide. A second signal before the program ended does so at once.
 * - A program that fails is logged (unless `disableErrorReporting`) and ends the process with exit code 1
 *   (or the error's `Runtime.errorExitCode`); one that succeeds leaves the process to end when nothing is left
 *   to do.
 *
 * @throws {InvalidConfig} when `signals` is not a non-empty list of signals a process can trap.
 */
export const runMain = <A, E>(program: Effect.Effect<A, E>, options: RunMainOptions = {}): void => {
  const signals = options.signals ?? defaultSignals
  const problem = signalsProblem(signals)
  if (problem !== undefined) throw problem
  const run = Runtime.makeRunMain(({ fiber, teardown }) => {
    const ended = new Promise<void>((resolve) => fiber.addObserver(() => resolve()))
    const trap = trapSignals(signals, () => {
      fiber.interruptUnsafe()
      return ended
    })
    fiber.addObserver((exit) => {
      // Interrupted by a signal: the trap raises it again, now that the program ended.
      if (trap.caught !== undefined) return
      trap.uninstall()
      teardown(exit, (code) => {
        if (code !== 0) process.exit(code)
      })
    })
  })
  run(program, { disableErrorReporting: options.disableErrorReporting === true })
}
