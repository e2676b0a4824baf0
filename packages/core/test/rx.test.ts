/** The RxJS face, in plain async tests as a user of this face writes them. */
import { Schema } from "effect"
import { firstValueFrom, from, lastValueFrom, mergeMap, take, toArray } from "rxjs"
import { describe, expect, it } from "vitest"
import { Errors, Sluice, Topic } from "../src/index.ts"
import { messages, publishTo } from "../src/rx.ts"
import { until } from "./promises.ts"

const Reading = Schema.Struct({ sensor: Schema.String, value: Schema.Number })
type Reading = typeof Reading.Type
const readings = Topic.make({ name: "sensors.readings", schema: Reading })

const reading = (n: number): Reading => ({ sensor: `s-${n}`, value: n })

describe("rx", () => {
  it("messages emits the decoded messages of a group, to ack yourself", async () => {
    const sluice = await Sluice.connect()
    try {
      await sluice.publishAll(readings, [reading(1), reading(2), reading(3)])
      const received = await lastValueFrom(
        (await messages(sluice, readings, { group: "dashboard" })).pipe(
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
      const slow = await messages(sluice, readings, { group: "slow", maxInFlight: 3 })
      const subscription = slow.subscribe((message) => received.push(message))
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

  it("a subscription that cannot be opened rejects with the typed error", async () => {
    const sluice = await Sluice.connect()
    try {
      const error = await messages(sluice, readings, { group: "bad group" }).then(
        () => expect.fail("expected an error"),
        (error: unknown) => error
      )
      expect(error).toBeInstanceOf(Errors.InvalidName)
      expect(error).toMatchObject({ _tag: "InvalidName", kind: "group" })
    } finally {
      await sluice.close()
    }
  })

  it("unsubscribing closes the subscription and hands back at once what it emitted and nobody acked", async () => {
    const sluice = await Sluice.connect()
    try {
      await sluice.publishAll(readings, [reading(1), reading(2), reading(3), reading(4)])
      const received: Array<string> = []
      const group = await messages(sluice, readings, { group: "g", ackWait: "1 hour" })
      const subscription = group.subscribe({
        next: async (message) => {
          received.push(message.payload.sensor)
          if (received.length <= 2) await message.ack()
        },
        error: (error) => expect.fail(`unexpected error: ${String(error)}`)
      })
      await until("four messages, two of them acked", async () => {
        const lag = await sluice.lag(readings, "g")
        return received.length === 4 && lag.inFlight === 2
      })
      subscription.unsubscribe()
      // No ack wait passes: the two unacked ones are back in the broker at once.
      await until("s-3 and s-4 to be handed back", async () => {
        const lag = await sluice.lag(readings, "g")
        return lag.pending === 2 && lag.inFlight === 0
      })
      const later = await lastValueFrom(
        (await messages(sluice, readings, { group: "g" })).pipe(
          mergeMap(async (message) => {
            await message.ack()
            return message.payload.sensor
          }),
          take(2),
          toArray()
        )
      )
      expect(later).toEqual(["s-3", "s-4"])
      expect(await sluice.lag(readings, "g")).toEqual({ pending: 0, inFlight: 0, missed: 0 })
    } finally {
      await sluice.close()
    }
  })

  it("a broadcast subscription exists when messages resolves: a message published right after reaches it", async () => {
    const sluice = await Sluice.connect()
    try {
      await sluice.publish(readings, reading(0))
      const everything = await messages(sluice, readings)
      await sluice.publish(readings, reading(1))
      expect((await firstValueFrom(everything)).payload).toEqual(reading(1))
    } finally {
      await sluice.close()
    }
  })

  it("close completes the Observables of the client, and a later subscriber of one opens a subscription of its own", async () => {
    const sluice = await Sluice.connect()
    const group = await messages(sluice, readings, { group: "g" })
    const completed = new Promise<string>((resolve) => {
      group.subscribe({ complete: () => resolve("completed"), error: () => resolve("errored") })
    })
    const unobserved = await messages(sluice, readings, { group: "h" })
    await sluice.close()
    expect(await completed).toBe("completed")
    // The Observable nobody subscribed to before close: its subscription was closed with the client, so its
    // first subscriber completes at once; a second one opens a new subscription, which the client refuses.
    expect(await lastValueFrom(unobserved.pipe(toArray()))).toEqual([])
    expect(await firstValueFrom(unobserved).catch((error: unknown) => error)).toMatchObject({
      _tag: "TransportUnavailable"
    })
  })

  it("publishTo publishes in source order and emits each receipt in order", async () => {
    const sluice = await Sluice.connect()
    try {
      const values = Array.from({ length: 20 }, (_, n) => reading(n))
      const receipts = await lastValueFrom(from(values).pipe(publishTo(sluice, readings), toArray()))
      expect(receipts.map((receipt) => receipt.sequence)).toEqual(values.map((_, n) => n + 1))
      expect(receipts.every((receipt) => !receipt.duplicate && receipt.topic === "sensors.readings")).toBe(true)
      const stored = await lastValueFrom(
        (await messages(sluice, readings, { group: "check" })).pipe(
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
      expect(error).toBeInstanceOf(Errors.EncodeError)
      expect(error).toMatchObject({ _tag: "EncodeError", topic: "sensors.readings" })
      expect(emitted).toEqual([1, 2])
      expect((await sluice.topicInfo(readings)).messages).toBe(2)
    } finally {
      await sluice.close()
    }
  })
})
