/**
 * How a member pulls, against real servers: a pull that ends unfilled is made again as soon as the server
 * ends it; a member whose group is deleted fails with `GroupNotFound`; a member whose server froze for
 * longer than two heartbeats gives its pulls up, pulls again only once they are gone at the server (so it
 * never holds more than its in-flight bound), and loses nothing; so does a member whose server was killed
 * and restarted. Pulls answer to the connection's own inbox prefix; a member whose connection is drained
 * ends with `TransportUnavailable`. Pull settings the server would refuse fail the transport before it
 * connects.
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import type { Transport } from "@sluice/core"
import { Effect, Exit, Fiber, Stream } from "effect"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"
import { eventually } from "./eventually.ts"

let counter = 0
const uniqueTopic = (label: string) => `pulls.${Date.now().toString(36)}.${label}-${++counter}`
const encoder = new TextEncoder()

const records = (topic: string, count: number): Array<Transport.OutgoingRecord> =>
  Array.from({ length: count }, (_, i) => ({
    topic,
    id: `${topic}-${i + 1}`,
    headers: {},
    payload: encoder.encode(JSON.stringify({ n: i + 1 }))
  }))

/** Publishes `count` messages in batches of 100. */
const publish = (transport: Transport.Transport, topic: string, count: number) =>
  Effect.forEach(
    Array.from({ length: Math.ceil(count / 100) }, (_, i) => records(topic, count).slice(i * 100, (i + 1) * 100)),
    (batch) => transport.publish(batch),
    { discard: true }
  )

describe("NATS pulls", () => {
  it.live("a pull that ends unfilled is made again at once: a message published after a pull expired arrives", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const transport = yield* NatsTransport.make({ ...server.connectTarget, pullExpires: "2 seconds" })
        const topic = uniqueTopic("expired")
        yield* transport.ensureTopic({ name: topic })
        const received: Array<Transport.Delivery> = []
        const deliveries = yield* transport.subscribe({ topic, group: "g", maxInFlight: 10 })
        yield* Effect.forkScoped(
          Stream.runForEach(deliveries, (d) =>
            Effect.andThen(
              Effect.sync(() => received.push(d)),
              d.ack
            )
          )
        )
        // The first pull expires, saying it delivered nothing, and the next one is made then. Were the
        // expiry missed, only the missing heartbeats would replace the pull, seconds later.
        yield* Effect.sleep("2500 millis")
        yield* publish(transport, topic, 3)
        yield* eventually("the 3 messages published after the pull expired", () => received.length === 3, 1_500)
      })
    )
  )

  it.live("pull settings the server would refuse fail with InvalidConfig before connecting", () =>
    Effect.gen(function* () {
      // Nothing listens on port 1: the settings are refused before any connection is tried.
      const refused = (options: Parameters<typeof NatsTransport.make>[0]) =>
        Effect.scoped(Effect.flip(NatsTransport.make({ servers: "127.0.0.1:1", ...options })))
      const tooSlow = yield* refused({ pullExpires: "2 seconds", heartbeat: "1500 millis" })
      expect(tooSlow._tag).toBe("InvalidConfig")
      expect(tooSlow.message).toContain("at most half of pullExpires (2000 ms)")
      expect((yield* refused({ pullBatch: 0 }))._tag).toBe("InvalidConfig")
    })
  )

  it.live("a member pulls through the connection's own inbox prefix, where permissions allow no other inbox", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess({
          configText: `authorization { users: [ { user: "limited", password: "limited-pass", permissions: {
            publish: { allow: ["$JS.API.>", "$JS.ACK.>", "pulls.>"] },
            subscribe: { allow: ["_LIMITED.>"] }
          } } ] }`
        })
        const transport = yield* NatsTransport.make({
          servers: server.url,
          user: "limited",
          pass: "limited-pass",
          connectionOptions: { inboxPrefix: "_LIMITED" }
        })
        const topic = uniqueTopic("inbox-prefix")
        yield* transport.ensureTopic({ name: topic })
        yield* publish(transport, topic, 3)
        const deliveries = yield* transport.subscribe({ topic, group: "g" })
        const received = yield* deliveries.pipe(Stream.take(3), Stream.runCollect, Effect.timeout("5 seconds"))
        expect(received.map((d) => d.sequence)).toEqual([1, 2, 3])
      })
    )
  )

  it.live("a member on a connection the application drains ends with TransportUnavailable", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const nc = yield* Effect.promise(() => connect(server.connectTarget))
        const transport = yield* NatsTransport.make({ connection: nc })
        const topic = uniqueTopic("drained")
        yield* transport.ensureTopic({ name: topic })
        const deliveries = yield* transport.subscribe({ topic, group: "g" })
        const member = yield* Effect.forkScoped(Stream.runDrain(deliveries))
        yield* Effect.sleep("300 millis")
        yield* Effect.promise(() => nc.drain())
        const exit = yield* Fiber.await(member).pipe(Effect.timeout("5 seconds"))
        expect(JSON.stringify(exit)).toContain("TransportUnavailable")
      })
    )
  )

  it.live("a member whose group is deleted while it pulls fails with GroupNotFound", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const transport = yield* NatsTransport.make({ ...server.connectTarget, heartbeat: "300 millis" })
        const topic = uniqueTopic("deleted")
        yield* transport.ensureTopic({ name: topic })
        const deliveries = yield* transport.subscribe({ topic, group: "doomed" })
        const member = yield* Effect.forkScoped(Stream.runDrain(deliveries))
        yield* Effect.sleep("300 millis")
        const nc = yield* Effect.promise(() => connect(server.connectTarget))
        yield* Effect.promise(async () => {
          await (await jetstreamManager(nc)).consumers.delete(topic.replaceAll(".", "~"), "doomed")
          await nc.close()
        })
        const exit = yield* Fiber.await(member).pipe(Effect.timeout("5 seconds"))
        expect(Exit.isFailure(exit)).toBe(true)
        expect(JSON.stringify(exit)).toContain("GroupNotFound")
      })
    )
  )

  /**
   * Drains 1,000 messages with `maxInFlight` 20, settling each 40 ms after it arrives, while `fault` strikes
   * the server once a third has arrived; returns the most unsettled messages the member held at once.
   */
  const drainThrough = (label: string, fault: (server: NatsServer.ProcessServer) => Promise<void>) =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess()
        const maxInFlight = 20
        const total = 1_000
        const transport = yield* NatsTransport.make({
          ...server.connectTarget,
          heartbeat: "300 millis",
          // Pulls that outlive a freeze: given up by the member, still waiting at the server when it thaws.
          pullExpires: "4 seconds",
          requestTimeout: "500 millis"
        })
        const topic = uniqueTopic(label.replaceAll(" ", "-"))
        yield* transport.ensureTopic({ name: topic })
        yield* publish(transport, topic, total)
        const seen = new Set<number>()
        let unsettled = 0
        let highest = 0
        // Acks sent while the server is down are lost: the messages come back after 2 s.
        const deliveries = yield* transport.subscribe({ topic, group: "g", maxInFlight, ackWait: "2 seconds" })
        yield* Effect.forkScoped(
          Stream.runForEach(deliveries, (d) =>
            Effect.gen(function* () {
              seen.add(d.sequence)
              highest = Math.max(highest, ++unsettled)
              // Each message is settled 40 ms later, in a fiber of its own: about 500 messages a second.
              yield* Effect.forkScoped(
                Effect.andThen(
                  Effect.sleep("40 millis"),
                  Effect.suspend(() => {
                    unsettled--
                    return Effect.ignore(d.ack)
                  })
                )
              )
            })
          )
        )
        yield* eventually("a third of the messages", () => seen.size >= total / 3, 10_000)
        yield* Effect.promise(() => fault(server))
        yield* eventually(`all ${total} messages`, () => seen.size === total, 30_000)
        console.log(JSON.stringify({ case: label, total, received: seen.size, maxInFlight, highest }))
        expect(highest).toBeLessThanOrEqual(maxInFlight)
      })
    )

  it.live(
    "a member whose server froze for several heartbeats pulls again, never holds more than its bound, and loses nothing",
    () =>
      drainThrough("frozen for 3 s", async (server) => {
        await server.pause()
        await new Promise((resolve) => setTimeout(resolve, 3_000))
        await server.resume()
      }),
    40_000
  )

  it.live(
    "a member whose server was down for 8 s pulls again once it is back, never holds more than its bound, and loses nothing",
    () =>
      drainThrough("down for 8 s", async (server) => {
        await server.kill("SIGKILL")
        await new Promise((resolve) => setTimeout(resolve, 8_000))
        await server.restart()
      }),
    60_000
  )
})
