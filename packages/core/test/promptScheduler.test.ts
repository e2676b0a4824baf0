/**
 * Consumers run on a scheduler that starts fibers from the microtask queue, so that the messages of one
 * read are handled before the next turn of the event loop; its budget per turn keeps a busy consumer from
 * starving the event loop.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Scheduler, Schema } from "effect"
import { Bus, MemoryTransport, Topic } from "../src/index.ts"
import { promptScheduler } from "../src/internal/promptScheduler.ts"

/** A Bus over a fresh memory broker, and a topic of its own. */
const busWithTopic = (name: string) =>
  Effect.map(MemoryTransport.make(), (transport) => ({
    bus: Bus.make(transport),
    topic: Topic.make({ name, schema: Schema.Struct({ n: Schema.Number }) })
  }))

/** A fiber that records each of its runs: it yields after each. */
const recordRuns = (runs: number, order: Array<string>) =>
  Effect.gen(function* () {
    for (let i = 0; i < runs; i++) {
      order.push(`run ${i}`)
      yield* Effect.yieldNow
    }
  })

describe("promptScheduler", () => {
  it("starts a fiber's runs from the microtask queue, budget runs per turn, the rest in the next turn", async () => {
    const order: Array<string> = []
    const fiber = Effect.runFork(
      recordRuns(6, order).pipe(Effect.provideService(Scheduler.Scheduler, promptScheduler(3)))
    )
    setImmediate(() => order.push("next turn"))
    await Effect.runPromise(Fiber.join(fiber))
    // The fork starts the first run at once; three more start from the microtask queue, before the turn
    // ends; the rest wait for the next turn.
    expect(order).toEqual(["run 0", "run 1", "run 2", "run 3", "next turn", "run 4", "run 5"])
  })

  it("a consumer's handler resumes within the turn: a yield does not wait for the next turn of the event loop", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { bus, topic } = yield* busWithTopic("prompt")
        const events: Array<string> = []
        const handled = yield* Deferred.make<void>()
        yield* bus.consume(topic, { group: "g" }, () =>
          Effect.gen(function* () {
            setImmediate(() => events.push("next turn"))
            yield* Effect.yieldNow
            events.push("handler resumed")
            yield* Deferred.succeed(handled, undefined)
          })
        )
        yield* bus.publish(topic, { n: 1 })
        yield* Deferred.await(handled)
        yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        expect(events).toEqual(["handler resumed", "next turn"])
      })
    ).pipe(Effect.runPromise))

  it("a handler that yields over and over does not hold the event loop up: a timer fires while it runs", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { bus, topic } = yield* busWithTopic("spinning")
        const events: Array<string> = []
        const spinning = yield* Deferred.make<void>()
        const consumer = yield* bus.consume(topic, { group: "g", stopTimeout: "50 millis" }, () =>
          Effect.gen(function* () {
            yield* Deferred.succeed(spinning, undefined)
            for (let i = 0; i < 100_000; i++) yield* Effect.yieldNow
            events.push("handler done")
          })
        )
        yield* bus.publish(topic, { n: 1 })
        yield* Deferred.await(spinning)
        // Real time. Were all the handler's runs started from the microtask queue, the timer would fire
        // only once the handler is done.
        yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5))).pipe(
          Effect.andThen(Effect.sync(() => events.push("timer fired")))
        )
        expect(events[0]).toBe("timer fired")
        yield* consumer.stop
      })
    ).pipe(Effect.runPromise))
})
