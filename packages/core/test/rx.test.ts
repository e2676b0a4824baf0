/**
 * The RxJS face. Plain async tests, except where the ack wait matters: there
 * the face runs over a memory broker on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { firstValueFrom, from, lastValueFrom, mergeMap, take, toArray } from "rxjs"
import { EncodeError, InvalidName, MemoryTransport, Sluice, Topic, TransportService } from "../src/index.ts"
import { messages, publishTo } from "../src/rx.ts"
import { until } from "./promises.ts"

const Reading = Schema.Struct({ sensor: Schema.String, value: Schema.Number })
type Reading = typeof Reading.Type
const readings = Topic.make({ name: "sensors.readings", schema: Reading })

const reading = (n: number): Reading => ({ sensor: `s-${n}`, value: n })

const virtualClient = Effect.gen(function* () {
  const transport = yield* MemoryTransport.make()
  const client = yield* Effect.promise(() => Sluice.connect({ transport: Layer.succeed(TransportService, transport) }))
  yield* Effect.addFinalizer(() => Effect.promise(() => client.close()))
  return client
})

describe("rx", () => {
  it("messages emits the decoded messages of a group, to ack yourself", async () => {
    const sluice = await Sluice.connect()
    try {
      await sluice.publishAll(readings, [reading(1), reading(2), reading(3)])
      const received = await lastValueFrom(
        messages(sluice, readings, { group: "dashboard" }).pipe(
          mergeMap(async (message) => {
            await message.ack()
            return message
          }, 4),
          take(3),
          toArray()
        )
      )
      expect(received.map((message) => message.payload)).toEqual([reading(1), reading(2), reading(3)])
      expect(received.map((message) => message.sequence)).toEqual([1, 2, 3])
      expect(await sluice.lag(readings, "dashboard")).toEqual({ pending: 0, inFlight: 0, missed: 0 })
    } finally {
      await sluice.close()
    }
  })

  it("messages holds at most maxInFlight unacked messages", async () => {
    const sluice = await Sluice.connect()
    try {
      await sluice.publishAll(
        readings,
        Array.from({ length: 10 }, (_, n) => reading(n))
      )
      const received: Array<Sluice.Message<Reading>> = []
      const subscription = messages(sluice, readings, { group: "slow", maxInFlight: 3 }).subscribe((message) =>
        received.push(message)
      )
      await until("three messages", () => received.length === 3)
      for (let i = 0; i < 100; i++) await new Promise((resolve) => setImmediate(resolve))
      expect(received).toHaveLength(3)
      await received[0]?.ack()
      await until("a fourth message once one is acked", () => received.length === 4)
      subscription.unsubscribe()
    } finally {
      await sluice.close()
    }
  })

  it("a subscription that cannot be opened errors the Observable with the typed error", async () => {
    const sluice = await Sluice.connect()
    try {
      const error = await firstValueFrom(messages(sluice, readings, { group: "bad group" })).then(
        () => expect.fail("expected an error"),
        (error: unknown) => error
      )
      expect(error).toBeInstanceOf(InvalidName)
      expect(error).toMatchObject({ _tag: "InvalidName", kind: "group" })
    } finally {
      await sluice.close()
    }
  })

  it.effect("unsubscribing closes the subscription; a later member of the group gets everything not acked", () =>
    Effect.gen(function* () {
      const sluice = yield* virtualClient
      yield* Effect.promise(() => sluice.publishAll(readings, [reading(1), reading(2), reading(3), reading(4)]))

      const received: Array<string> = []
      let third: () => void = () => undefined
      const thirdReceived = new Promise<void>((resolve) => {
        third = resolve
      })
      const subscription = messages(sluice, readings, { group: "g", ackWait: "20 seconds" }).subscribe({
        next: async (message) => {
          received.push(message.payload.sensor)
          if (received.length <= 2) await message.ack()
          if (received.length === 3) third()
        },
        error: (error) => expect.fail(`unexpected error: ${String(error)}`),
        complete: () => expect.fail("unexpected completion")
      })
      yield* Effect.promise(() => thirdReceived)
      subscription.unsubscribe()
      yield* Effect.promise(() =>
        until("s-1 and s-2 to be acked", async () => {
          const lag = await sluice.lag(readings, "g")
          return lag.pending + lag.inFlight === 2
        })
      )
      // A message published now is not delivered to the closed subscription.
      yield* Effect.promise(() => sluice.publish(readings, reading(5)))
      yield* Effect.promise(() =>
        until("the subscription to be gone", async () => (await sluice.lag(readings, "g")).pending >= 1)
      )
      // Unacked deliveries come back after their ack wait.
      yield* TestClock.adjust("20 seconds")
      expect(yield* Effect.promise(() => sluice.lag(readings, "g"))).toEqual({ pending: 3, inFlight: 0, missed: 0 })

      const later = yield* Effect.promise(() =>
        lastValueFrom(
          messages(sluice, readings, { group: "g" }).pipe(
            mergeMap(async (message) => {
              await message.ack()
              return message.payload.sensor
            }),
            take(3),
            toArray()
          )
        )
      )
      expect(received.slice(0, 3)).toEqual(["s-1", "s-2", "s-3"])
      expect(later.toSorted()).toEqual(["s-3", "s-4", "s-5"])
      expect(yield* Effect.promise(() => sluice.lag(readings, "g"))).toEqual({ pending: 0, inFlight: 0, missed: 0 })
    })
  )

  it("publishTo publishes in source order and emits each receipt in order", async () => {
    const sluice = await Sluice.connect()
    try {
      const values = Array.from({ length: 20 }, (_, n) => reading(n))
      const receipts = await lastValueFrom(from(values).pipe(publishTo(sluice, readings), toArray()))
      expect(receipts.map((receipt) => receipt.sequence)).toEqual(values.map((_, n) => n + 1))
      expect(receipts.every((receipt) => !receipt.duplicate && receipt.topic === "sensors.readings")).toBe(true)
      const stored = await lastValueFrom(
        messages(sluice, readings, { group: "check" }).pipe(
          mergeMap(async (message) => {
            await message.ack()
            return message.payload
          }, 1),
          take(20),
          toArray()
        )
      )
      expect(stored).toEqual(values)
    } finally {
      await sluice.close()
    }
  })

  it("publishTo errors with the typed error, after publishing the values before it", async () => {
    const sluice = await Sluice.connect()
    try {
      const bad = { sensor: "s-x", value: "hot" } as unknown as Reading
      const emitted: Array<number> = []
      const error = await new Promise<unknown>((resolve) => {
        from([reading(1), reading(2), bad, reading(4)])
          .pipe(publishTo(sluice, readings))
          .subscribe({
            next: (receipt) => emitted.push(receipt.sequence),
            error: resolve,
            complete: () => resolve(undefined)
          })
      })
      expect(error).toBeInstanceOf(EncodeError)
      expect(error).toMatchObject({ _tag: "EncodeError", topic: "sensors.readings" })
      expect(emitted).toEqual([1, 2])
      expect((await sluice.topicInfo(readings)).messages).toBe(2)
    } finally {
      await sluice.close()
    }
  })
})
