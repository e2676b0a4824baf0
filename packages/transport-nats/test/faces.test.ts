/**
 * The Promise and RxJS faces over NATS, as a user of those faces writes them: subscriptions exist when
 * `subscribe` resolves, leaving a loop hands back what it took without an ack wait, and the client's `close`
 * completes every loop and Observable (the memory broker's own tests check the same there).
 */
import { type Logging, Sluice, Topic } from "@sluice/core"
import { messages } from "@sluice/core/rx"
import { Schema } from "effect"
import { firstValueFrom, lastValueFrom, take, toArray } from "rxjs"
import { afterAll, describe, expect, it } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

const server = await NatsServer.acquire()
afterAll(() => server.stop())

const Note = Schema.Struct({ n: Schema.Number })
let topics = 0
const noteTopic = () => Topic.make({ name: `faces.${process.pid}-${Date.now()}-${++topics}`, schema: Note })
const connect = () => Sluice.connect(NatsTransport.nats(server.connectTarget))

describe("the Promise and RxJS faces on NATS", () => {
  it("a broadcast subscription exists when subscribe resolves: all 10 messages published right after reach its loop", async () => {
    const sluice = await connect()
    try {
      const notes = noteTopic()
      await sluice.publish(notes, { n: -1 })
      const everything = await sluice.subscribe(notes)
      await sluice.publishAll(
        notes,
        Array.from({ length: 10 }, (_, n) => ({ n }))
      )
      const seen: Array<number> = []
      for await (const message of everything) {
        seen.push(message.payload.n)
        if (seen.length === 10) break
      }
      expect(seen).toEqual(Array.from({ length: 10 }, (_, n) => n))
    } finally {
      await sluice.close()
    }
  })

  it("leaving a for await loop hands back what it took and nobody acked, long before its ack wait", async () => {
    const sluice = await connect()
    try {
      const notes = noteTopic()
      await sluice.publishAll(
        notes,
        Array.from({ length: 5 }, (_, n) => ({ n }))
      )
      for await (const message of await sluice.subscribe(notes, { group: "audit", ackWait: "1 hour" })) {
        await message.ack()
        break
      }
      // The next member of the group gets the four at once, not after an ack wait of an hour.
      const next: Array<number> = []
      for await (const message of await sluice.subscribe(notes, { group: "audit" })) {
        next.push(message.payload.n)
        await message.ack()
        if (next.length === 4) break
      }
      expect(next.toSorted()).toEqual([1, 2, 3, 4])
    } finally {
      await sluice.close()
    }
  })

  it("close completes a loop waiting for its next message and an Observable: neither rejects", async () => {
    const sluice = await connect()
    const notes = noteTopic()
    const waiting = await sluice.subscribe(notes, { group: "audit" })
    const loop = (async () => {
      let count = 0
      for await (const _ of waiting) count++
      return count
    })()
    const observed = lastValueFrom((await messages(sluice, notes, { group: "dashboard" })).pipe(take(5), toArray()))
    await new Promise((resolve) => setTimeout(resolve, 100))
    await sluice.close()
    expect(await loop).toBe(0)
    expect(await observed).toEqual([])
  })

  it("unsubscribing an Observable hands back what it emitted and nobody acked, long before its ack wait", async () => {
    const sluice = await connect()
    try {
      const notes = noteTopic()
      await sluice.publishAll(
        notes,
        Array.from({ length: 3 }, (_, n) => ({ n }))
      )
      const first = await firstValueFrom(await messages(sluice, notes, { group: "g", ackWait: "1 hour" }))
      expect(first.payload.n).toBe(0)
      // The next subscriber gets all three at once, not after an ack wait of an hour.
      const again = await lastValueFrom((await messages(sluice, notes, { group: "g" })).pipe(take(3), toArray()))
      expect(again.map((message) => message.payload.n).toSorted()).toEqual([0, 1, 2])
    } finally {
      await sluice.close()
    }
  })

  it("the transport's own log lines go to the client's logger, with their fields, and logLevel none silences them", async () => {
    const entries: Array<Logging.Entry> = []
    const notes = noteTopic()
    for (const options of [
      { logger: (entry: Logging.Entry) => entries.push(entry) },
      { logLevel: "none" as const, logger: (entry: Logging.Entry) => entries.push(entry) }
    ]) {
      const sluice = await Sluice.connect({ ...NatsTransport.nats(server.connectTarget), ...options })
      try {
        // A member with a larger maxInFlight than the group was created for raises the group's bound, and says so.
        const member = await sluice.consume(
          notes,
          { group: "raise", maxInFlight: 10 * (entries.length + 1) },
          () => undefined
        )
        const larger = await sluice.consume(
          notes,
          { group: "raise", maxInFlight: 20 * (entries.length + 1) },
          () => undefined
        )
        await member.stop()
        await larger.stop()
      } finally {
        await sluice.close()
      }
    }
    expect(entries).toMatchObject([
      { level: "info", fields: { topic: notes.name, group: "raise", setting: "max_ack_pending" } }
    ])
  })
})
