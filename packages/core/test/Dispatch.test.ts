import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import { Dispatch } from "../src/index.ts"
import { eventually, jobs, nothingLeft, setup, test } from "./fixtures.ts"

/**
 * A dispatch that starts nothing until the test releases jobs, one at a time, last received first: it shows
 * which jobs a consumer hands it, and that the runtime settles exactly what it runs and hands back the rest.
 */
const heldBack = () => {
  const waiting: Array<Dispatch.Job> = []
  let release: (count: number) => Effect.Effect<void> = () => Effect.void
  const dispatch: Dispatch.Dispatch = (run) =>
    Effect.sync(() => {
      // The consumer's handler needs nothing from the test's context.
      const runJob = run as unknown as (job: Dispatch.Job) => Effect.Effect<void>
      release = (count) =>
        Effect.gen(function* () {
          for (let i = 0; i < count; i++) {
            const job = waiting.pop()
            if (job !== undefined) yield* runJob(job)
          }
        })
      return {
        offerAll: (offered) => Effect.sync(() => void waiting.push(...offered)),
        close: Effect.sync(() => waiting.splice(0) as never),
        await: Effect.void,
        interrupt: Effect.void
      }
    })
  return { dispatch, waiting, release: (count: number) => release(count) }
}

describe("Dispatch", () => {
  test("a consumer hands every message to its dispatch, which decides the order handlers run in", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const held = heldBack()
      const handled: Array<number> = []
      yield* bus.consume(jobs, { group: "g", maxInFlight: 10, dispatch: held.dispatch }, (message) =>
        Effect.sync(() => handled.push(message.payload.n))
      )
      yield* bus.publishAll(jobs, [{ n: 1 }, { n: 2 }, { n: 3 }])
      yield* eventually("the dispatch to hold three jobs", () => held.waiting.length === 3)
      expect(held.waiting.map((job) => job.delivery.sequence)).toEqual([1, 2, 3])
      yield* held.release(3)
      expect(handled).toEqual([3, 2, 1])
      yield* nothingLeft(bus, jobs, "g")
    }))

  test("what the dispatch never started when the consumer stops is handed back, unhandled, to the next consumer", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const held = heldBack()
      const handled: Array<number> = []
      const consumer = yield* bus.consume(jobs, { group: "g", maxInFlight: 10, dispatch: held.dispatch }, (message) =>
        Effect.sync(() => handled.push(message.payload.n))
      )
      yield* bus.publishAll(jobs, [{ n: 1 }, { n: 2 }, { n: 3 }])
      yield* eventually("the dispatch to hold three jobs", () => held.waiting.length === 3)
      yield* held.release(1)
      yield* consumer.stop
      expect(handled).toEqual([3])
      const next: Array<number> = []
      yield* bus.consume(jobs, { group: "g" }, (message) => Effect.sync(() => next.push(message.payload.n)))
      yield* nothingLeft(bus, jobs, "g")
      expect(next).toEqual([1, 2])
    }))

  test("the default dispatch runs `concurrency` handlers at once, starting messages in the order received", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      const started: Array<number> = []
      let running = 0
      let most = 0
      yield* bus.consume(jobs, { group: "g", concurrency: 3, dispatch: Dispatch.pool }, (message) =>
        Effect.gen(function* () {
          started.push(message.payload.n)
          most = Math.max(most, ++running)
          yield* Effect.yieldNow
          running--
        })
      )
      yield* bus.publishAll(
        jobs,
        Array.from({ length: 20 }, (_, n) => ({ n }))
      )
      yield* nothingLeft(bus, jobs, "g")
      expect(started).toEqual(Array.from({ length: 20 }, (_, n) => n))
      expect(most).toBe(3)
    }))
})
