import { expect } from "@effect/vitest"
import { Effect } from "effect"

/** Waits until `check` holds, looking every 50 ms; fails the test naming `what` after `timeoutMs`. */
export const eventually = (what: string, check: () => boolean, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) return expect.fail(`expected ${what} within ${timeoutMs} ms`)
      yield* Effect.sleep("50 millis")
    }
  })
