/**
 * A NATS server that is gone: each test starts a server of its own and stops it (most do not start it
 * again). What a client of it must do then is say so (its status) and fail, within a bound it can choose,
 * with an error that says why, instead of waiting forever.
 */
import { describe, expect, it } from "@effect/vitest"
import { Bus, Errors, Sluice, Topic, type Transport } from "@sluice/core"
import { messages } from "@sluice/core/rx"
import { Cause, type Duration, Effect, Exit, Fiber, Option, Schema, Stream } from "effect"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"
import { eventually } from "./eventually.ts"

const Note = Schema.Struct({ text: Schema.String })
let topics = 0
const noteTopic = () => Topic.make({ name: `outage.notes${++topics}`, schema: Note })

/**
 * A server of the test's own, a transport on it that allows `disconnectTimeout` and dials every 100 ms,
 * and a consumer of a new topic that records the text of each message, once it handled one.
 */
const consumerOfOwnServer = (disconnectTimeout: Duration.Input) =>
  Effect.gen(function* () {
    const server = yield* NatsServer.scopedProcess()
    const transport = yield* NatsTransport.make({
      ...server.connectTarget,
      disconnectTimeout,
      connectionOptions: { reconnectTimeWait: 100 }
    })
    const bus = Bus.make(transport)
    const topic = noteTopic()
    const handled = new Set<string>()
    const consumer = yield* bus.consume(topic, { group: "workers" }, (message) =>
      Effect.sync(() => handled.add(message.payload.text))
    )
    yield* bus.publish(topic, { text: "before" })
    yield* eventually("the message before handled", () => handled.has("before"), 10_000)
    return { server, bus, topic, handled, consumer }
  })

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
    "a consumer whose server is stopped and not started again fails its done with TransportUnavailable after disconnectTimeout",
    () =>
      Effect.gen(function* () {
        const { server, bus, topic, consumer } = yield* consumerOfOwnServer("2 seconds")
        const stream = yield* bus.subscribe(topic, { group: "readers" })
        const reading = yield* Effect.forkChild(Stream.runDrain(Stream.tap(stream, (message) => message.ack)))
        const stoppedAt = Date.now()
        yield* Effect.promise(() => server.kill("SIGTERM"))
        const done = yield* Effect.exit(consumer.done)
        const failedAfterMs = Date.now() - stoppedAt
        const read = yield* Fiber.await(reading)
        console.log(JSON.stringify({ case: "consumer of a stopped server", disconnectTimeoutMs: 2000, failedAfterMs }))
        // The consumer's done, and a subscription read on its own, both fail with the error that says why.
        for (const exit of [done, read])
          expect(Exit.isFailure(exit) ? Cause.squash(exit.cause) : exit).toMatchObject({
            _tag: "TransportUnavailable",
            operation: "subscribe",
            message: expect.stringMatching(/lost for 2s \(disconnectTimeout\)/)
          })
        expect(failedAfterMs).toBeGreaterThanOrEqual(1_900)
        expect(failedAfterMs).toBeLessThan(3_500)
      }),
    30_000
  )

  it.live(
    "a consumer whose server comes back within disconnectTimeout goes on, and handles what is published then",
    () =>
      Effect.gen(function* () {
        const { server, bus, topic, handled, consumer } = yield* consumerOfOwnServer("5 seconds")
        const killedAt = Date.now()
        yield* Effect.promise(() => server.kill("SIGKILL"))
        yield* Effect.sleep("500 millis")
        yield* Effect.promise(() => server.restart())
        yield* bus.publish(topic, { text: "after" })
        yield* eventually("the message after handled", () => handled.has("after"), 15_000)
        // Past the bound since the server went: the outage ended before it, and counts no more.
        yield* Effect.sleep(Math.max(0, killedAt + 6_000 - Date.now()))
        const done = yield* Effect.exit(Effect.timeoutOption(consumer.done, "100 millis"))
        expect(done, "done has not settled").toEqual(Exit.succeed(Option.none()))
      }),
    40_000
  )

  it.effect("a disconnectTimeout that is no duration is refused with InvalidConfig naming it, before connecting", () =>
    Effect.gen(function* () {
      for (const disconnectTimeout of ["soon", 0, -5])
        expect(
          yield* Effect.flip(
            NatsTransport.make({ servers: "127.0.0.1:1", disconnectTimeout } as NatsTransport.NatsTransportOptions)
          )
        ).toMatchObject({ _tag: "InvalidConfig", option: "disconnectTimeout" })
    })
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
    'on the Promise face: sluice.status and sluice.on("status") follow the connection; after disconnectTimeout consumer.done rejects, a loop throws and an Observable errors',
    () =>
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess()
        const sluice = yield* Effect.promise(() =>
          Sluice.connect(
            NatsTransport.nats({
              ...server.connectTarget,
              disconnectTimeout: "1500 millis",
              connectionOptions: { reconnectTimeWait: 100 }
            })
          )
        )
        const seen: Array<Transport.TransportStatus> = []
        const off = sluice.on("status", (status) => seen.push(status))
        expect(sluice.status).toBe("connected")
        const topic = noteTopic()
        const consumer = yield* Effect.promise(() => sluice.consume(topic, { group: "workers" }, () => {}))
        const subscription = yield* Effect.promise(() => sluice.subscribe(topic, { group: "readers" }))
        const loop = (async () => {
          for await (const message of subscription) await message.ack()
        })().then(
          () => undefined,
          (error: unknown) => error
        )
        const done = consumer.done.then(
          () => undefined,
          (error: unknown) => error
        )
        const watched = yield* Effect.promise(() => messages(sluice, topic, { group: "watchers" }))
        const errored = new Promise<unknown>((resolve) =>
          watched.subscribe({
            next: (message) => void message.ack(),
            error: resolve,
            complete: () => resolve(undefined)
          })
        )
        yield* Effect.promise(() => server.kill("SIGTERM"))
        yield* eventually("reconnecting", () => sluice.status === "reconnecting", 5_000)
        expect(seen).toEqual(["reconnecting"])
        for (const error of yield* Effect.promise(() => Promise.all([done, loop, errored])))
          expect(error).toMatchObject({
            _tag: "TransportUnavailable",
            message: expect.stringMatching(/disconnectTimeout/)
          })
        yield* Effect.promise(() => sluice.close())
        expect(sluice.status).toBe("closed")
        expect(seen).toEqual(["reconnecting", "closed"])
        off()
      }),
    30_000
  )
})
