/**
 * A NATS server that is gone: each test starts a server of its own and stops it. What a client of it must
 * do then is say so (its status) and fail, within a bound it can choose, with an error that says why,
 * instead of waiting forever.
 */
import { describe, expect, it } from "@effect/vitest"
import { Bus, Errors, Sluice, Topic, type Transport } from "@sluice/core"
import { Effect, Fiber, Schema, Stream } from "effect"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"
import { eventually } from "./eventually.ts"

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

  it.live(
    "status follows the connection: connected, reconnecting while the server is down, connected when it is back, closed with the transport",
    () =>
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess()
        const seen: Array<Transport.TransportStatus> = []
        const followed = yield* Effect.scoped(
          Effect.gen(function* () {
            const transport = yield* NatsTransport.make({
              ...server.connectTarget,
              connectionOptions: { reconnectTimeWait: 100 }
            })
            const following = yield* Effect.forkDetach(
              Stream.runForEach(transport.status, (status) => Effect.sync(() => seen.push(status)))
            )
            yield* eventually("connected", () => seen.length === 1, 5_000)
            yield* Effect.promise(() => server.kill("SIGKILL"))
            yield* eventually("reconnecting", () => seen.length === 2, 5_000)
            yield* Effect.promise(() => server.restart())
            yield* eventually("connected again", () => seen.length === 3, 10_000)
            return following
          })
        )
        yield* Fiber.join(followed)
        expect(seen).toEqual(["connected", "reconnecting", "connected", "closed"])
      }),
    30_000
  )

  it.live(
    'on the Promise face, sluice.status and sluice.on("status") follow the connection',
    () =>
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess()
        const sluice = yield* Effect.promise(() =>
          Sluice.connect(NatsTransport.nats({ ...server.connectTarget, connectionOptions: { reconnectTimeWait: 100 } }))
        )
        const seen: Array<Transport.TransportStatus> = []
        const off = sluice.on("status", (status) => seen.push(status))
        expect(sluice.status).toBe("connected")
        yield* Effect.promise(() => server.kill("SIGTERM"))
        yield* eventually("reconnecting", () => sluice.status === "reconnecting", 5_000)
        expect(seen).toEqual(["reconnecting"])
        yield* Effect.promise(() => sluice.close())
        expect(sluice.status).toBe("closed")
        expect(seen).toEqual(["reconnecting", "closed"])
        off()
      }),
    30_000
  )
})
