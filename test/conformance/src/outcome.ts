/** How an operation that must fail ended, waited for the same way on a real or a virtual clock. */
import { expect } from "@effect/vitest"
import { Cause, Effect, Exit, type Scope } from "effect"
import type { Harness } from "./harness.ts"

/**
 * Runs `effect` in its own fiber and returns its typed failure. Fails the test when it succeeds, dies,
 * or has not ended in time (an operation that should fail at once but hangs, such as a subscription
 * to a name that should have been refused).
 */
export const failureOf = <A, E, R>(
  h: Harness,
  what: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<E, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkScoped(effect)
    yield* h.eventually(`${what} to end`, () => fiber.pollUnsafe() !== undefined)
    const exit = fiber.pollUnsafe()
    if (exit === undefined) return yield* Effect.die("unreachable")
    if (Exit.isSuccess(exit)) return yield* Effect.sync(() => expect.fail(`expected ${what} to fail, it succeeded`))
    const error = Cause.findErrorOption(exit.cause)
    if (error._tag === "None")
      return yield* Effect.sync(() =>
        expect.fail(`expected ${what} to fail, it ended with ${Cause.pretty(exit.cause)}`)
      )
    return error.value
  })
