import { describe, expect } from "@effect/vitest"
import { Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import { DeadLetter, type Message } from "../src/index.ts"
import { encoder, eventually, jobs, nothingLeft, orders, readAll, settle, setup, test, text } from "./fixtures.ts"

describe("DeadLetter", () => {
  test("a dead letter read back gives the original message, why it was given up, by which group, after how many attempts, and when", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup()
      yield* TestClock.adjust("1 hour")
      yield* bus.consume(orders, { group: "billing", maxAttempts: 1 }, () => Effect.fail(new Error("card declined")))
      const receipt = yield* bus.publish(orders, { orderId: "o-7", total: 70 }, { headers: { "trace-id": "t-7" } })
      const read: Array<DeadLetter.DeadLetter> = []
      yield* bus.consume(DeadLetter.topicOf(orders), { group: "ops" }, (message) =>
        Effect.sync(() => read.push(DeadLetter.read(message) as DeadLetter.DeadLetter))
      )
      yield* eventually("the dead letter to be read", () => read.length === 1)
      const [letter] = read as [DeadLetter.DeadLetter]
      expect({ ...letter, payload: text(letter.payload) }).toEqual({
        topic: "orders",
        sequence: receipt.sequence,
        id: "order-o-7",
        key: "customer-o",
        headers: { "trace-id": "t-7" },
        payload: JSON.stringify({ orderId: "o-7", total: 70 }),
        reason: "handler failed 1 times: Error: card declined",
        attempts: 1,
        deliveries: 1,
        group: "billing",
        at: new Date(3_600_000),
        droppedHeaders: 0
      })
      expect(DeadLetter.payloadOf(letter, orders)).toEqual(Result.succeed({ orderId: "o-7", total: 70 }))
    }))

  test("a dead-letter topic is read as bytes: a dead letter that is not JSON is read, and never dead-lettered again", () =>
    Effect.gen(function* () {
      const { transport, bus } = yield* setup()
      yield* bus.consume(jobs, { group: "g" }, () => Effect.void)
      yield* transport.publish([{ topic: "jobs", id: "broken", headers: {}, payload: encoder.encode("{not json") }])
      yield* nothingLeft(bus, jobs, "g")
      const letters = DeadLetter.topicOf(jobs)
      const read: Array<Message.Message<Uint8Array>> = []
      yield* bus.consume(letters, { group: "ops" }, (message) => Effect.sync(() => read.push(message)))
      yield* eventually("the dead letter to be read", () => read.length === 1)
      yield* settle
      const letter = DeadLetter.read(read[0] as Message.Message<Uint8Array>)
      expect(letter?.id).toBe("broken")
      expect(text(letter?.payload ?? new Uint8Array())).toBe("{not json")
      expect(letter?.reason).toMatch(/^cannot decode the payload: not valid JSON/)
      expect(DeadLetter.payloadOf(letter as DeadLetter.DeadLetter, jobs)._tag).toBe("Failure")
      expect(yield* readAll(transport, letters.deadLetter), "dead letters of the dead-letter topic").toEqual([])
    }))

  test("a message without a dead letter's headers reads as undefined", () =>
    Effect.sync(() => {
      expect(DeadLetter.read({ key: undefined, headers: { "trace-id": "t" }, payload: new Uint8Array() })).toBe(
        undefined
      )
    }))
})
