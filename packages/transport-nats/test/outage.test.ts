/**
 * A NATS server that is gone, and stays gone: each test starts a server of its own, stops it, and does not
 * start it again. What a client of it must do then is fail, within a bound it can choose, with an error
 * that says so, instead of waiting forever.
 */
import { describe, expect, it } from "@effect/vitest"
import { Bus, Errors, Topic } from "@sluice/core"
import { Effect, Schema } from "effect"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

const Note = Schema.Struct({ text: Schema.String })
let topics = 0
const noteTopic = () => Topic.make({ name: `outage.notes${++topics}`, schema: Note })

/** How long `effect` took to fail, and its error; fails the test if it succeeds. */
const timedFailure = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.suspend(() => {
    const started = Date.now()
    return Effect.map(Effect.flip(effect), (error) => ({ error, ms: Date.now() - started }))
  })

describe("NATS: a server that is gone", () => {
  it.live(
    "a publish to a stopped server fails within publishTimeout with TransportUnavailable that says it was not confirmed in time",
    () =>
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess()
        const transport = yield* NatsTransport.make({ ...server.connectTarget, requestTimeout: "1 second" })
        const bus = Bus.make(transport, { publishTimeout: "2500 millis" })
        const topic = noteTopic()
        yield* bus.publish(topic, { text: "before" })
        yield* Effect.promise(() => server.kill("SIGTERM"))
        const [single, batch] = yield* Effect.all(
          [
            timedFailure(bus.publish(topic, { text: "after" })),
            timedFailure(bus.publishAll(topic, [{ text: "a" }, { text: "b" }]))
          ],
          { concurrency: "unbounded" }
        )
        console.log(
          JSON.stringify({ case: "publish to a stopped server", publishTimeoutMs: 2500, ms: [single.ms, batch.ms] })
        )
        for (const outcome of [single, batch]) {
          expect(outcome.error).toBeInstanceOf(Errors.TransportUnavailable)
          expect(outcome.error.message).toMatch(/not confirmed within 2s 500ms .*publish it again with the same id/)
          expect(outcome.ms).toBeGreaterThanOrEqual(2_400)
          expect(outcome.ms).toBeLessThan(3_500)
        }
      }),
    30_000
  )

  it.live(
    "by default, a publish to a stopped server fails within 10 seconds",
    () =>
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess()
        const transport = yield* NatsTransport.make(server.connectTarget)
        const bus = Bus.make(transport)
        const topic = noteTopic()
        yield* bus.publish(topic, { text: "before" })
        yield* Effect.promise(() => server.kill("SIGTERM"))
        const { error, ms } = yield* timedFailure(bus.publish(topic, { text: "after" }))
        console.log(JSON.stringify({ case: "publish to a stopped server, defaults", ms }))
        expect(error).toBeInstanceOf(Errors.TransportUnavailable)
        expect(error.message).toMatch(/not confirmed within 10s/)
        expect(ms).toBeGreaterThanOrEqual(9_900)
        expect(ms).toBeLessThan(11_000)
      }),
    30_000
  )
})
