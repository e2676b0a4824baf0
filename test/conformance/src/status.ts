/**
 * The connection status a transport reports: the current status first, then each change, ending with
 * `"closed"` once the transport's scope closed. Faults that make a transport reconnect are the transport's
 * own tests' business: the suite has no way to break every broker's connection.
 */
import { describe, expect } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope, Stream } from "effect"
import type { Harness } from "./harness.ts"

export const statusTests = (h: Harness) => {
  describe("status", () => {
    h.test(
      "status gives connected first, then closed once the transport's scope closes, and completes; read after that, it gives closed alone",
      () =>
        Effect.gen(function* () {
          const scope = yield* Scope.make()
          const transport = yield* h.make.pipe(Scope.provide(scope))
          expect(yield* Stream.runCollect(Stream.take(transport.status, 1))).toEqual(["connected"])
          const following = yield* Effect.forkChild(Stream.runCollect(transport.status))
          yield* h.settle
          // Still following: no change has come, and the stream has not ended.
          expect(following.pollUnsafe()).toBeUndefined()
          yield* Scope.close(scope, Exit.void)
          expect(yield* Fiber.join(following)).toEqual(["connected", "closed"])
          expect(yield* Stream.runCollect(transport.status)).toEqual(["closed"])
        })
    )
  })
}
