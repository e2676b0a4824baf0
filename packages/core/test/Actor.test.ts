import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Logger } from "effect"
import { TestClock } from "effect/testing"
import { Actor } from "../src/index.ts"

/** Lets every other fiber run until it suspends, without moving virtual time. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 100; i++) yield* Effect.yieldNow
})

/** Waits until `check` holds, failing the test (naming `what`) when it does not within many scheduler turns. */
const eventually = (what: string, check: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 10_000; i++) {
      if (check()) return
      yield* Effect.yieldNow
    }
    return expect.fail(`expected ${what}`)
  })

/** Defects are logged by supervision "resume"; keep the test output clean. */
const quiet = Effect.provide(Logger.layer([]))

class Boom extends Error {
  readonly item: number
  constructor(item: number) {
    super(`boom on ${item}`)
    this.item = item
  }
}

describe("Actor", () => {
  it.effect("with one worker, handles messages one at a time in mailbox order", () =>
    Effect.gen(function* () {
      const handled: Array<number> = []
      let running = 0
      let maxRunning = 0
      const actor = yield* Actor.make({
        receive: (n: number) =>
          Effect.gen(function* () {
            running++
            maxRunning = Math.max(maxRunning, running)
            yield* Effect.sleep(`${10 - n} millis`)
            handled.push(n)
            running--
          })
      })
      for (let n = 0; n < 10; n++) expect(yield* actor.tell(n)).toBe(true)
      const drained = yield* Effect.forkChild(actor.drain)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(drained)
      // Later messages sleep less: any overlap would reorder them.
      expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(maxRunning).toBe(1)
    })
  )

  it.effect("a full mailbox makes tell wait until a message is taken (backpressure)", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const started: Array<number> = []
      const actor = yield* Actor.make({
        capacity: 2,
        receive: (n: number) =>
          Effect.andThen(
            Effect.sync(() => started.push(n)),
            Deferred.await(gate)
          )
      })
      yield* actor.tell(1)
      yield* eventually("the first message to be started", () => started.length === 1)
      yield* actor.tell(2)
      yield* actor.tell(3)
      expect(yield* actor.pending).toBe(2)

      const fourth = yield* Effect.forkChild(actor.tell(4))
      yield* settle
      expect(fourth.pollUnsafe(), "tell waits while the mailbox is full").toBeUndefined()
      expect(yield* actor.pending).toBe(2)

      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(fourth)).toBe(true)
      yield* actor.drain
      expect(started).toEqual([1, 2, 3, 4])
    })
  )

  it.effect("with N workers, handles N messages at once and never more", () =>
    Effect.gen(function* () {
      let running = 0
      let maxRunning = 0
      const handled: Array<number> = []
      const actor = yield* Actor.make({
        workers: 3,
        receive: (n: number) =>
          Effect.gen(function* () {
            running++
            maxRunning = Math.max(maxRunning, running)
            yield* Effect.sleep("1 second")
            running--
            handled.push(n)
          })
      })
      for (let n = 0; n < 10; n++) yield* actor.tell(n)
      yield* settle
      expect(running, "three handlers start at once").toBe(3)
      expect(yield* actor.pending).toBe(7)

      yield* TestClock.adjust("1 second")
      yield* settle
      expect(handled).toHaveLength(3)
      expect(running).toBe(3)

      const drained = yield* Effect.forkChild(actor.drain)
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(drained)
      expect(handled.toSorted((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(maxRunning).toBe(3)
    })
  )

  it.effect('supervision "resume" goes on with the next message after a defect', () =>
    Effect.gen(function* () {
      const handled: Array<number> = []
      const actor = yield* Actor.make({
        supervision: "resume",
        receive: (n: number) => (n % 3 === 1 ? Effect.die(new Boom(n)) : Effect.sync(() => handled.push(n)))
      })
      for (let n = 0; n < 7; n++) yield* actor.tell(n)
      yield* actor.drain
      expect(handled).toEqual([0, 2, 3, 5, 6])
      expect(Exit.isSuccess(yield* Effect.exit(actor.await))).toBe(true)
    }).pipe(quiet)
  )

  it.effect('"resume" is the default supervision', () =>
    Effect.gen(function* () {
      const handled: Array<number> = []
      const actor = yield* Actor.make({
        receive: (n: number) => (n === 0 ? Effect.die(new Boom(n)) : Effect.sync(() => handled.push(n)))
      })
      yield* actor.tell(0)
      yield* actor.tell(1)
      yield* actor.drain
      expect(handled).toEqual([1])
    }).pipe(quiet)
  )

  it.effect('supervision "stop" stops at a defect: await dies with it, later messages are not handled', () =>
    Effect.gen(function* () {
      const handled: Array<number> = []
      const actor = yield* Actor.make({
        supervision: "stop",
        receive: (n: number) => (n === 2 ? Effect.die(new Boom(n)) : Effect.sync(() => handled.push(n)))
      })
      for (let n = 0; n < 5; n++) yield* actor.tell(n)
      const exit = yield* Effect.exit(actor.await)
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toEqual(new Boom(2))
      expect(handled).toEqual([0, 1])
      expect(yield* actor.tell(9), "a stopped actor accepts no message").toBe(false)
      yield* settle
      expect(handled).toEqual([0, 1])
    })
  )

  it.effect('supervision "stop" with several workers: no worker starts a message after the defect', () =>
    Effect.gen(function* () {
      const started: Array<string> = []
      const actor = yield* Actor.make({
        supervision: "stop",
        workers: 2,
        receive: (item: string) =>
          Effect.gen(function* () {
            started.push(item)
            if (item === "boom") return yield* Effect.die(new Error("boom"))
            yield* Effect.sleep("1 second")
          })
      })
      // One worker takes "slow", the other takes "boom" and dies; "later-1" and "later-2" wait in the mailbox.
      for (const item of ["slow", "boom", "later-1", "later-2"]) yield* actor.tell(item)
      yield* settle
      expect(started).toEqual(["slow", "boom"])
      const awaited = yield* Effect.forkChild(Effect.exit(actor.await))
      yield* TestClock.adjust("5 seconds")
      const exit = yield* Fiber.join(awaited)
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      expect(started, "the surviving worker stops taking messages too").toEqual(["slow", "boom"])
    })
  )

  it.effect("close stops accepting messages and returns those not started; the running one finishes", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const started: Array<number> = []
      const finished: Array<number> = []
      const actor = yield* Actor.make({
        receive: (n: number) =>
          Effect.gen(function* () {
            started.push(n)
            yield* Deferred.await(gate)
            finished.push(n)
          })
      })
      for (let n = 1; n <= 5; n++) yield* actor.tell(n)
      yield* eventually("the first message to be started", () => started.length === 1)

      expect(yield* actor.close).toEqual([2, 3, 4, 5])
      expect(yield* actor.tell(6)).toBe(false)
      expect(yield* actor.pending).toBe(0)

      yield* Deferred.succeed(gate, undefined)
      yield* actor.await
      expect(started).toEqual([1])
      expect(finished).toEqual([1])
    })
  )

  it.effect("close on an idle actor returns nothing and ends it", () =>
    Effect.gen(function* () {
      const actor = yield* Actor.make({ receive: (_: number) => Effect.void })
      expect(yield* actor.close).toEqual([])
      yield* actor.await
      expect(yield* actor.tell(1)).toBe(false)
    })
  )

  it.effect("drain waits until every message told is handled, and refuses new ones", () =>
    Effect.gen(function* () {
      const handled: Array<number> = []
      const actor = yield* Actor.make({
        receive: (n: number) =>
          Effect.andThen(
            Effect.sleep("1 second"),
            Effect.sync(() => handled.push(n))
          )
      })
      for (let n = 1; n <= 5; n++) yield* actor.tell(n)
      const drained = yield* Effect.forkChild(actor.drain)
      yield* settle
      expect(yield* actor.tell(6), "a draining actor accepts no message").toBe(false)

      yield* TestClock.adjust("4 seconds")
      yield* settle
      expect(drained.pollUnsafe(), "drain waits for the fifth message").toBeUndefined()
      expect(handled).toEqual([1, 2, 3, 4])

      yield* TestClock.adjust("1 second")
      yield* Fiber.join(drained)
      expect(handled).toEqual([1, 2, 3, 4, 5])
    })
  )

  it.effect("interrupt stops the running message and the actor", () =>
    Effect.gen(function* () {
      const interrupted: Array<number> = []
      const actor = yield* Actor.make({
        receive: (n: number) => Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted.push(n))))
      })
      yield* actor.tell(1)
      yield* actor.tell(2)
      yield* settle
      yield* actor.interrupt
      expect(interrupted).toEqual([1])
    })
  )

  it.effect(
    "a fiber interrupted from outside while it handles a message is replaced: the actor keeps its workers",
    () =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const started: Array<number> = []
        let stuck: Fiber.Fiber<unknown, unknown> | undefined
        const actor = yield* Actor.make({
          workers: 2,
          receive: (n: number) =>
            Effect.withFiber((fiber) => {
              started.push(n)
              if (n === 0) stuck = fiber
              return n === 0 ? Effect.never : n >= 10 ? Deferred.await(gate) : Effect.void
            })
        })
        yield* actor.tellAll([0, 1, 2])
        yield* eventually("message 0 to be taken", () => stuck !== undefined)
        yield* Fiber.interrupt(stuck as Fiber.Fiber<unknown, unknown>)
        // Both workers run again: two gated messages start at once, and a third waits for them.
        yield* actor.tellAll([10, 11, 12])
        yield* eventually("two gated messages to start", () => started.includes(10) && started.includes(11))
        yield* settle
        expect(started).toEqual([0, 1, 2, 10, 11])
        yield* Deferred.succeed(gate, undefined)
        yield* eventually("the third to start", () => started.includes(12))
      })
  )
})
