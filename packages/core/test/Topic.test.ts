import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { Errors, Topic } from "../src/index.ts"

const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })

/** The InvalidName that `Topic.make` throws for `name`, or fails the test when it accepts it. */
const rejection = (name: string): Errors.InvalidName => {
  try {
    Topic.make({ name, schema: Order })
  } catch (error) {
    expect(error).toBeInstanceOf(Errors.InvalidName)
    return error as Errors.InvalidName
  }
  return expect.fail(`Topic.make accepted ${JSON.stringify(name)}`)
}

describe("Topic", () => {
  describe("accepts names of dot-separated tokens of A-Z a-z 0-9 _ -", () => {
    it.each([
      "orders",
      "payments.results",
      "Payments.Results-v2",
      "a.b.c.d.e",
      "snake_case.kebab-case.0123",
      "x".repeat(188)
    ])("%s", (name) => {
      const topic = Topic.make({ name, schema: Order })
      expect(topic.name).toBe(name)
      expect(topic.config.name).toBe(name)
      expect(Result.isSuccess(Topic.validateName(name))).toBe(true)
    })
  })

  describe("rejects a bad name with InvalidName saying what is wrong", () => {
    it.each([
      { label: "an empty name", name: "", reason: /empty/ },
      { label: "two dots in a row", name: "a..b", reason: /empty token/ },
      { label: "a leading dot", name: ".a", reason: /empty token/ },
      { label: "a trailing dot", name: "a.", reason: /empty token/ },
      { label: "the > wildcard", name: "orders.>", reason: /wildcard/ },
      { label: "a lone * wildcard", name: "*", reason: /wildcard/ },
      { label: "a * token", name: "orders.*", reason: /wildcard/ },
      { label: "a * inside a token", name: "orders.eu*", reason: /wildcard/ },
      { label: "a space", name: "orders created", reason: /whitespace/ },
      { label: "a tab", name: "orders\tcreated", reason: /control character U\+0009/ },
      { label: "CR LF", name: "orders\r\nPUB evil", reason: /control character U\+000D/ },
      { label: "a NUL character", name: "orders\u0000", reason: /control character/ },
      { label: "a slash", name: "orders/created", reason: /outside A-Z a-z 0-9 _ -/ },
      { label: "a non-ASCII letter", name: "commandes.reçues", reason: /outside A-Z a-z 0-9 _ -/ },
      { label: "5,000 characters", name: "a".repeat(5000), reason: /5000 characters; a topic may have at most 188/ },
      { label: "201 characters", name: "a".repeat(201), reason: /201 characters; a topic may have at most 188/ }
    ])("$label", ({ name, reason }) => {
      const error = rejection(name)
      expect(error._tag).toBe("InvalidName")
      expect(error.kind).toBe("topic")
      expect(error.value).toBe(name)
      expect(error.reason).toMatch(reason)
      // The message names the kind and the reason, and stays short even for a huge name.
      expect(error.message).toContain("invalid topic")
      expect(error.message).toContain(error.reason)
      expect(error.message.length).toBeLessThan(300)

      const checked = Topic.validateName(name)
      expect(Result.isFailure(checked) && checked.failure.reason).toBe(error.reason)
    })
  })

  it("has a dead-letter topic named after it", () => {
    const topic = Topic.make({ name: "payments.results", schema: Order })
    expect(topic.deadLetter).toBe("payments.results.dead-letter")
    expect(Topic.deadLetterOf("orders")).toBe("orders.dead-letter")
    expect(Result.isSuccess(Topic.validateName(topic.deadLetter))).toBe(true)
  })

  it("a topic with the longest accepted name still has a valid dead-letter topic", () => {
    // Every accepted topic is consumable, and consuming creates its dead-letter topic.
    // (Bus.test checks that such a topic is consumed, dead-letter topic included.)
    const topic = Topic.make({ name: "x".repeat(188), schema: Order })
    expect(topic.deadLetter).toHaveLength(200)
  })

  it("a name too long to leave room for its dead-letter topic is refused, saying the limit", () => {
    const error = rejection("x".repeat(189))
    expect(error.kind).toBe("topic")
    expect(error.reason).toMatch(/at most 188/)
    expect(Result.isFailure(Topic.validateName("x".repeat(189)))).toBe(true)
  })

  it("keeps the key and id functions and the storage limits", () => {
    const topic = Topic.make({
      name: "orders",
      schema: Order,
      key: (order) => order.id,
      id: (order) => `order-${order.id}`,
      maxMessages: 10,
      discard: "new",
      dedupWindow: "1 minute"
    })
    expect(topic.key?.({ id: "o-1", total: 5 })).toBe("o-1")
    expect(topic.id?.({ id: "o-1", total: 5 })).toBe("order-o-1")
    expect(topic.config).toEqual({ name: "orders", maxMessages: 10, discard: "new", dedupWindow: "1 minute" })
  })

  describe("rejects a bad option with InvalidConfig naming the option and the value", () => {
    it.each([
      { option: "maxMessages", value: 0, shown: "0" },
      { option: "maxMessages", value: -1, shown: "-1" },
      { option: "maxMessages", value: 1.5, shown: "1.5" },
      { option: "maxBytes", value: Number.NaN, shown: "NaN" },
      { option: "maxAge", value: "soon", shown: '"soon"' },
      { option: "maxAge", value: -5, shown: "-5" },
      { option: "discard", value: "oldest", shown: '"oldest"' },
      { option: "dedupWindow", value: "Infinity", shown: '"Infinity"' },
      { option: "replicas", value: 7, shown: "7" },
      { option: "key", value: "orderId", shown: '"orderId"' },
      { option: "id", value: 42, shown: "42" }
    ])("$option: $shown", ({ option, value, shown }) => {
      const thrown = (() => {
        try {
          Topic.make({ name: "orders", schema: Order, [option]: value })
        } catch (error) {
          return error
        }
        return expect.fail("Topic.make accepted it")
      })()
      expect(thrown).toMatchObject({ _tag: "InvalidConfig", option })
      expect((thrown as Error).message).toContain(`${option} must be`)
      expect((thrown as Error).message).toContain(`not ${shown}`)
    })

    it("a topic without a schema (and no codec)", () => {
      expect(() => Topic.make({ name: "orders" } as never)).toThrow(/schema must be an Effect Schema, not undefined/)
    })
  })
})
