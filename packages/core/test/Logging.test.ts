/**
 * Sluice's log lines on the Promise face: a logger of the user's receives each entry with its level, message
 * and fields (topic, group, message id); `logLevel` filters them, `"none"` silences Sluice; each line, a
 * dead letter for a schema error's included, is one line, and an error attached to it is one line too.
 */

import { Cause, Effect, Schema } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { Logging, Sluice, Topic } from "../src/index.ts"
import { until } from "./promises.ts"

const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })
let topics = 0
const orderTopic = () =>
  Topic.make({ name: `logging.orders-${++topics}`, schema: Order, id: (order) => `order-${order.id}` })
const encoder = new TextEncoder()

afterEach(() => {
  vi.restoreAllMocks()
})

/** Publishes a payload the topic's schema refuses (`total` is no number), as a raw publisher could. */
const publishUndecodable = (sluice: Sluice.Client, topic: Topic.Topic<typeof Order.Type>, id: string) =>
  Effect.runPromise(
    sluice.bus.transport.publish([
      { topic: topic.name, id, headers: {}, payload: encoder.encode('{"id":"o-1","total":"ten"}') }
    ])
  )

/** Waits until the topic's dead letter holds `count` messages. */
const deadLetters = (sluice: Sluice.Client, topic: Topic.Topic<typeof Order.Type>, count: number) =>
  until(
    `${count} dead letters`,
    async () => (await sluice.bus.transport.topicInfo(topic.deadLetter).pipe(Effect.runPromise)).messages === count
  )

/** Every line written to the console meanwhile. */
const consoleLines = () => {
  const lines: Array<{ readonly method: string; readonly args: ReadonlyArray<unknown> }> = []
  for (const method of ["log", "info", "debug", "warn", "error"] as const)
    vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
      lines.push({ method, args })
    })
  return lines
}

describe("Sluice logging (Promise face)", () => {
  it("a logger of your own receives each entry with its level, message, and the topic, group and message id as fields", async () => {
    const entries: Array<Logging.Entry> = []
    const sluice = await Sluice.connect({ logger: (entry) => entries.push(entry) })
    try {
      const orders = orderTopic()
      await sluice.consume(orders, { group: "billing", maxAttempts: 1 }, () => {
        throw new Error("no total\nfor this order")
      })
      await sluice.publish(orders, { id: "o-1", total: 10 })
      await deadLetters(sluice, orders, 1)
      await until("the dead letter's entry", () => entries.length > 0)
      expect(entries[0]).toMatchObject({
        level: "warning",
        message: `dead-lettered message order-o-1 of ${orders.name}: handler failed 1 times: Error: no total for this order`,
        fields: { topic: orders.name, group: "billing", messageId: "order-o-1" }
      })
      expect(entries[0]?.date).toBeInstanceOf(Date)
    } finally {
      await sluice.close()
    }
  })

  it("a dead letter for a schema error is one line on the console, by default, with its fields", async () => {
    const lines = consoleLines()
    const sluice = await Sluice.connect()
    try {
      const orders = orderTopic()
      await sluice.consume(orders, { group: "billing" }, () => undefined)
      await publishUndecodable(sluice, orders, "raw-1")
      await deadLetters(sluice, orders, 1)
      await until("the dead letter's line", () => lines.length > 0)
      expect(lines).toHaveLength(1)
      const [line] = lines
      expect(line?.method).toBe("warn")
      expect(line?.args).toHaveLength(1)
      const text = String(line?.args[0])
      expect(text).not.toMatch(/[\r\n]/)
      expect(text).toMatch(
        /^time=\S+ level=warning message="dead-lettered message raw-1 of \S+: cannot decode the payload: /
      )
      expect(text).toContain(`topic=${orders.name} group=billing messageId=raw-1`)
    } finally {
      await sluice.close()
    }
  })

  it('logLevel "none" silences Sluice: nothing reaches the logger or the console', async () => {
    const lines = consoleLines()
    const entries: Array<Logging.Entry> = []
    for (const options of [
      { logLevel: "none" as const },
      { logLevel: "none" as const, logger: (entry: Logging.Entry) => entries.push(entry) }
    ]) {
      const sluice = await Sluice.connect(options)
      try {
        const orders = orderTopic()
        await sluice.consume(orders, { group: "billing" }, () => undefined)
        await publishUndecodable(sluice, orders, "raw-1")
        await deadLetters(sluice, orders, 1)
        await sluice.updateTopic(Topic.make({ name: orders.name, schema: Order, maxMessages: 10 }))
      } finally {
        await sluice.close()
      }
    }
    expect(lines).toEqual([])
    expect(entries).toEqual([])
  })

  it('logLevel "warning" leaves out the info lines (a setting changed) and keeps the warnings (a dead letter)', async () => {
    const entries: Array<Logging.Entry> = []
    const sluice = await Sluice.connect({ logLevel: "warning", logger: (entry) => entries.push(entry) })
    try {
      const orders = orderTopic()
      await sluice.consume(orders, { group: "billing" }, () => undefined)
      await sluice.updateTopic(Topic.make({ name: orders.name, schema: Order, maxMessages: 10 }))
      await publishUndecodable(sluice, orders, "raw-1")
      await deadLetters(sluice, orders, 1)
      await until("the dead letter's entry", () => entries.length > 0)
      expect(entries.map((entry) => entry.level)).toEqual(["warning"])
    } finally {
      await sluice.close()
    }
    const info: Array<Logging.Entry> = []
    const verbose = await Sluice.connect({ logLevel: "info", logger: (entry) => info.push(entry) })
    try {
      const orders = orderTopic()
      await verbose.publish(orders, { id: "o-1", total: 1 })
      await verbose.updateTopic(Topic.make({ name: orders.name, schema: Order, maxMessages: 10 }))
      expect(info).toMatchObject([
        { level: "info", fields: { topic: orders.name, setting: "maxMessages", from: "none", to: "10" } }
      ])
    } finally {
      await verbose.close()
    }
  })

  it("a bad logLevel or logger is refused with InvalidConfig naming it", async () => {
    for (const [options, option] of [
      [{ logLevel: "loud" }, "logLevel"],
      [{ logLevel: "Warn" }, "logLevel"],
      [{ logger: "console" }, "logger"]
    ] as const)
      await expect(Sluice.connect(options as unknown as Sluice.ConnectOptions)).rejects.toMatchObject({
        _tag: "InvalidConfig",
        option
      })
  })
})

describe("Logging", () => {
  const failure = Object.assign(new Error("the broker\nsaid no"), { name: "TransportUnavailable" })

  it("an error attached to a line is one line (its name and message), the error itself beside it; never a stack", async () => {
    const entries: Array<Logging.Entry> = []
    await Effect.runPromise(
      Effect.logError("cannot ack message m-1", Cause.fail(failure)).pipe(
        Effect.annotateLogs(Logging.messageFields("orders", undefined, "m-1")),
        Effect.provide(Logging.layer({ logger: (entry) => entries.push(entry) }))
      )
    )
    expect(entries).toMatchObject([
      {
        level: "error",
        message: "cannot ack message m-1",
        fields: { topic: "orders", messageId: "m-1" },
        error: "TransportUnavailable: the broker said no",
        cause: failure
      }
    ])
    const lines = consoleLines()
    await Effect.runPromise(
      Effect.logError("cannot ack message m-1", Cause.fail(failure)).pipe(Effect.provide(Logging.layer()))
    )
    expect(lines).toHaveLength(1)
    expect(lines[0]?.method).toBe("error")
    expect(String(lines[0]?.args[0])).toMatch(
      /^time=\S+ level=error message="cannot ack message m-1" error="TransportUnavailable: the broker said no"$/
    )
  })

  it("an entry its logger throws on goes to the console instead", async () => {
    const lines = consoleLines()
    await Effect.runPromise(
      Effect.logWarning("a line").pipe(
        Effect.provide(
          Logging.layer({
            logger: () => {
              throw new Error("the logger is broken")
            }
          })
        )
      )
    )
    expect(lines.map((line) => line.method)).toEqual(["warn"])
  })
})
