/**
 * Invariants checked over random inputs with fast-check. Each run of the
 * consumer property gets its own memory broker and its own TestClock, so a
 * run covers minutes of redeliveries in milliseconds and is reproducible from
 * fast-check's seed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Logger, Result, Schema, type Scope } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import { Bus, type Consumer, MemoryTransport, Topic } from "../src/index.ts"

const Job = Schema.Struct({ n: Schema.Int })
const jobs = Topic.make({ name: "jobs", schema: Job })

const yieldMany = (times: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < times; i++) yield* Effect.yieldNow
  })

/** Runs `effect` in a scope of its own, on a fresh TestClock, without log output. */
const runVirtual = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(effect.pipe(Effect.scoped, Effect.provide([TestClock.layer(), Logger.layer([])])))

interface Scenario {
  /** For each message, how many of its first deliveries fail (the handler fails, or dies). */
  readonly failures: ReadonlyArray<number>
  /** How long each handler takes, by message, in virtual milliseconds. */
  readonly durations: ReadonlyArray<number>
  readonly concurrency: number
  readonly maxInFlight: number
  readonly redeliveryDelayMs: number
  readonly failWithDefect: boolean
  /** Stop the consumer after this many virtual milliseconds and start another one of the same group. */
  readonly restartAfterMs: number | undefined
}

const scenario: fc.Arbitrary<Scenario> = fc.integer({ min: 1, max: 40 }).chain((count) =>
  fc.record({
    failures: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 3 })), {
      minLength: count,
      maxLength: count
    }),
    durations: fc.array(fc.integer({ min: 0, max: 50 }), { minLength: count, maxLength: count }),
    concurrency: fc.integer({ min: 1, max: 4 }),
    maxInFlight: fc.integer({ min: 1, max: 8 }),
    redeliveryDelayMs: fc.integer({ min: 1, max: 5_000 }),
    failWithDefect: fc.boolean(),
    restartAfterMs: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: undefined })
  })
)

/** Publishes every message, consumes with random failures, and reports what was handled and what is left. */
const runScenario = (s: Scenario) =>
  Effect.gen(function* () {
    const transport = yield* MemoryTransport.make()
    const bus = Bus.make(transport)
    const attempts = new Map<number, number>()
    const successes = new Map<number, number>()
    const options: Consumer.ConsumeOptions = {
      group: "workers",
      concurrency: s.concurrency,
      maxInFlight: s.maxInFlight,
      maxAttempts: 20,
      ackWait: "30 seconds",
      redeliveryDelay: () => s.redeliveryDelayMs
    }
    const start = bus.consume(jobs, options, (message) =>
      Effect.gen(function* () {
        const n = message.payload.n
        const attempt = (attempts.get(n) ?? 0) + 1
        attempts.set(n, attempt)
        yield* Effect.sleep(s.durations[n] ?? 0)
        if (attempt <= (s.failures[n] ?? 0)) {
          if (s.failWithDefect) return yield* Effect.die(new Error(`defect in ${n}`))
          return yield* Effect.fail(new Error(`failure ${attempt} of ${n}`))
        }
        successes.set(n, (successes.get(n) ?? 0) + 1)
      })
    )
    let consumer: Consumer.Consumer = yield* start
    yield* bus.publishAll(
      jobs,
      s.failures.map((_, n) => ({ n }))
    )

    let elapsed = 0
    let restarted = s.restartAfterMs === undefined
    const done = bus.lag(jobs, "workers").pipe(
      Effect.map((lag) => successes.size === s.failures.length && lag.pending === 0 && lag.inFlight === 0),
      Effect.orElseSucceed(() => false)
    )
    for (let step = 0; step < 2_000 && !(yield* done); step++) {
      if (!restarted && elapsed >= (s.restartAfterMs ?? 0)) {
        restarted = true
        const stopping = yield* Effect.forkChild(consumer.stop)
        while (stopping.pollUnsafe() === undefined) {
          yield* TestClock.adjust(10)
          yield* yieldMany(5)
        }
        expect(Exit.isSuccess(yield* Fiber.await(stopping))).toBe(true)
        consumer = yield* start
      }
      yield* TestClock.adjust(50)
      elapsed += 50
      yield* yieldMany(10)
    }
    const lag = yield* bus.lag(jobs, "workers")
    const deadLetters = (yield* transport.topicInfo(jobs.deadLetter)).messages
    return { successes, lag, deadLetters }
  })

describe("properties", () => {
  it.effect(
    "with random handler failures, every message is handled successfully and ends acked (no loss)",
    () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(scenario, async (s) => {
            const { successes, lag, deadLetters } = await runVirtual(runScenario(s))
            const lost = s.failures.map((_, n) => n).filter((n) => (successes.get(n) ?? 0) < 1)
            expect(lost, "messages never handled successfully").toEqual([])
            expect(lag).toEqual({ pending: 0, inFlight: 0, missed: 0 })
            expect(deadLetters).toBe(0)
          }),
          { numRuns: 60 }
        )
      ),
    120_000
  )

  it.effect("republishing values with the same id stores each id once, and confirms repeats as duplicates", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 60 }), async (ids) => {
          const keyed = Topic.make({ name: "keyed", schema: Job, id: (job) => `job-${job.n}` })
          const outcome = await runVirtual(
            Effect.gen(function* () {
              const bus = Bus.make(yield* MemoryTransport.make())
              const receipts = []
              for (const n of ids) receipts.push(yield* bus.publish(keyed, { n }))
              return { receipts, info: yield* bus.topicInfo(keyed) }
            })
          )
          const firstSequence = new Map<number, number>()
          outcome.receipts.forEach((receipt, i) => {
            const n = ids[i] as number
            const first = firstSequence.get(n)
            expect(receipt.duplicate).toBe(first !== undefined)
            if (first === undefined) firstSequence.set(n, receipt.sequence)
            else expect(receipt.sequence).toBe(first)
          })
          expect(outcome.info.messages).toBe(new Set(ids).size)
          expect([...firstSequence.values()].sort((a, b) => a - b)).toEqual(
            Array.from({ length: firstSequence.size }, (_, i) => i + 1)
          )
        }),
        { numRuns: 100 }
      )
    )
  )

  it("a name made of valid tokens is accepted exactly when it has at most 200 characters", () => {
    const token = fc.string({ unit: fc.constantFrom(..."ABYZabyz0189_-"), minLength: 1, maxLength: 30 })
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 12 }), (tokens) => {
        const name = tokens.join(".")
        expect(Result.isSuccess(Topic.validateName(name))).toBe(name.length <= 200)
      })
    )
  })

  it("a name with any character outside A-Z a-z 0-9 _ - . is rejected", () => {
    const allowed = /^[A-Za-z0-9_.-]$/
    const bad = fc
      .integer({ min: 0, max: 0x10ffff })
      .map((code) => String.fromCodePoint(code))
      .filter((c) => !allowed.test(c))
    const word = fc.string({ unit: fc.constantFrom(..."abc-_.XYZ019"), maxLength: 10 })
    fc.assert(
      fc.property(word, bad, word, (before, c, after) => {
        const checked = Topic.validateName(`${before}${c}${after}`)
        expect(Result.isFailure(checked)).toBe(true)
        expect(() => Topic.make({ name: `${before}${c}${after}`, schema: Job })).toThrow()
      })
    )
  })
})
