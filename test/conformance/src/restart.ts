/**
 * The broker-restart case: a durable transport's broker is killed and
 * restarted twice while messages flow, and every confirmed message still
 * arrives. It runs against a broker of its own (the caller passes one it may
 * kill), after the rest of the suite.
 */
import { describe, expect } from "@effect/vitest"
import type { Transport } from "@sluice/core"
import { Effect, Fiber, Schedule, type Scope } from "effect"
import { ackEach, type Harness, records, subscribe, uniqueGroup, uniqueTopic, waits } from "./harness.ts"

/** A broker the suite may kill and restart. */
export interface RestartableBroker {
  /** Makes a transport on that broker. */
  readonly make: Effect.Effect<Transport.Transport, unknown, Scope.Scope>
  /** Kills the broker (as a crash would) and starts it again on the same storage; resolves once it accepts clients. */
  readonly restart: () => Promise<void>
}

const MESSAGES = 10_000
const BATCH = 100

export const restartTests = (h: Harness, broker: RestartableBroker) => {
  const { receivedSuch } = waits(h)

  describe("broker restart", () => {
    h.test(
      "every message confirmed while the broker is killed and restarted twice is received",
      () =>
        Effect.gen(function* () {
          const transport = yield* broker.make
          const topic = uniqueTopic("restart")
          const group = uniqueGroup()
          yield* transport.ensureTopic({ name: topic })
          const subscriber = yield* subscribe(transport, { topic, group }, ackEach)
          const all = records(topic, MESSAGES)
          const confirmed = new Set<string>()
          let failedAttempts = 0
          // A careful producer: each batch is retried with the same ids until it is confirmed.
          const publisher = yield* Effect.forkChild(
            Effect.forEach(
              Array.from({ length: MESSAGES / BATCH }, (_, i) => all.slice(i * BATCH, (i + 1) * BATCH)),
              (batch) =>
                transport.publish(batch).pipe(
                  Effect.tapError(() => Effect.sync(() => failedAttempts++)),
                  Effect.retry(Schedule.spaced("100 millis")),
                  Effect.tap(() =>
                    Effect.sync(() => {
                      for (const record of batch) confirmed.add(record.id)
                    })
                  )
                ),
              { discard: true }
            )
          )
          for (const share of [1 / 3, 2 / 3]) {
            yield* h.eventually(
              `${share * MESSAGES} messages confirmed`,
              () => confirmed.size >= share * MESSAGES,
              "60 seconds"
            )
            yield* Effect.promise(() => broker.restart())
          }
          yield* Fiber.join(publisher)
          const ids = () => new Set(subscriber.received.map((d) => d.id))
          yield* receivedSuch(
            subscriber,
            "every confirmed message",
            () => {
              const received = ids()
              return [...confirmed].every((id) => received.has(id))
            },
            "60 seconds"
          )
          const received = ids()
          const lost = [...confirmed].filter((id) => !received.has(id)).length
          console.log(
            JSON.stringify({
              case: "broker restart",
              published: MESSAGES,
              confirmed: confirmed.size,
              failedPublishAttempts: failedAttempts,
              received: received.size,
              redelivered: subscriber.received.length - received.size,
              lost
            })
          )
          expect(lost).toBe(0)
          expect(confirmed.size).toBe(MESSAGES)
        }),
      180_000
    )
  })
}
