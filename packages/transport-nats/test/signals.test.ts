/**
 * Shutdown on signals, as a supervisor does it: a child process consumes a topic on the test's NATS server,
 * the test sends it SIGTERM (or SIGINT) while a handler runs, and reads back from NATS what it left. On both
 * faces (`sluice.closeOnSignals()`, `Shutdown.runMain`): the message being handled finishes and is
 * acknowledged, the others are back in the broker at once (the group's ack wait is an hour), and the process
 * ends killed by the signal; a second signal during the close ends it at once.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Sluice, Topic } from "@sluice/core"
import { Schema } from "effect"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

const server = await NatsServer.acquire()
const sluice = await Sluice.connect({ ...NatsTransport.nats(server.connectTarget), logLevel: "none" })
afterAll(async () => {
  await sluice.close()
  await server.stop()
})

const Note = Schema.Struct({ n: Schema.Number })
let topics = 0
const noteTopic = () => Topic.make({ name: `signals.${process.pid}-${Date.now()}-${++topics}`, schema: Note })
const fixture = fileURLToPath(new URL("./fixtures/signalledConsumer.ts", import.meta.url))

type Face = "promise" | "effect"

/** The children a test started, killed (SIGKILL) after it should it fail before they ended. */
const children = new Set<ChildProcess>()
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  children.clear()
})

/** Starts the consumer process on `topic`, and follows its output and its end. */
const startConsumer = (face: Face, topic: Topic.Topic<typeof Note.Type>, handlerMillis: number) => {
  const child = spawn(
    process.execPath,
    [fixture, face, JSON.stringify(server.connectTarget), topic.name, String(handlerMillis)],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  children.add(child)
  const lines: Array<string> = []
  let errors = ""
  let pending = ""
  child.stdout.on("data", (chunk: Buffer) => {
    pending += chunk.toString()
    const complete = pending.split("\n")
    pending = complete.pop() ?? ""
    lines.push(...complete)
  })
  child.stderr.on("data", (chunk: Buffer) => {
    errors += chunk.toString()
  })
  const exited = new Promise<{
    readonly code: number | null
    readonly signal: NodeJS.Signals | null
    readonly at: number
  }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, at: Date.now() })))
  const line = async (expected: string, withinMillis = 20_000) => {
    const deadline = Date.now() + withinMillis
    while (!lines.includes(expected)) {
      if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null)
        expect.fail(
          `expected the line "${expected}" from the ${face} consumer; it wrote ${JSON.stringify(lines)}, and ${errors}`
        )
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  const ended = (withinMillis: number) =>
    Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`the ${face} consumer did not end within ${withinMillis} ms: ${errors}`)),
          withinMillis
        )
      )
    ])
  return { child, lines, line, ended, errors: () => errors }
}

/** Takes `count` messages of the group as a new member, acknowledging each; fails after `withinMillis`. */
const takeFromGroup = async (topic: Topic.Topic<typeof Note.Type>, count: number, withinMillis: number) => {
  const taken: Array<{ readonly n: number; readonly attempt: number; readonly deliveryCount: number }> = []
  const subscription = await sluice.subscribe(topic, { group: "workers" })
  const timer = setTimeout(() => void subscription.close(), withinMillis)
  try {
    for await (const message of subscription) {
      taken.push({ n: message.payload.n, attempt: message.attempt, deliveryCount: message.deliveryCount })
      await message.ack()
      if (taken.length === count) break
    }
  } finally {
    clearTimeout(timer)
    await subscription.close()
  }
  return taken
}

/** Waits until the group's lag is `expected`; fails after `withinMillis`, showing the last. */
const lagBecomes = async (
  topic: Topic.Topic<typeof Note.Type>,
  expected: { readonly pending: number; readonly inFlight: number },
  withinMillis: number
) => {
  const deadline = Date.now() + withinMillis
  for (;;) {
    const { pending, inFlight } = await sluice.lag(topic, "workers")
    if (pending === expected.pending && inFlight === expected.inFlight) return
    if (Date.now() > deadline)
      expect.fail(`the group's lag is ${JSON.stringify({ pending, inFlight })}, not ${JSON.stringify(expected)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A consumer process of a new topic holding `count` messages, once it handles the first. */
const handlingFirst = async (face: Face, count: number, handlerMillis: number) => {
  const topic = noteTopic()
  await sluice.publishAll(
    topic,
    Array.from({ length: count }, (_, n) => ({ n }))
  )
  const consumer = startConsumer(face, topic, handlerMillis)
  await consumer.line("handling 0")
  return { topic, consumer }
}

describe.each<Face>(["promise", "effect"])("shutdown on signals, %s face", (face) => {
  it.each<NodeJS.Signals>(["SIGTERM", "SIGINT"])(
    "at %s the message being handled finishes and is acknowledged, the others are back at once, and the process ends by the signal",
    async (signal) => {
      const { topic, consumer } = await handlingFirst(face, 5, 400)
      consumer.child.kill(signal)
      const end = await consumer.ended(15_000)
      expect(end).toMatchObject({ code: null, signal })
      expect(consumer.lines).toContain("handled 0")
      expect(consumer.lines).not.toContain("handling 1")
      // The four it held and never started: back in the broker at once (the ack wait is an hour), their attempt kept.
      const others = await takeFromGroup(topic, 4, 10_000)
      expect(Date.now() - end.at).toBeLessThan(10_000)
      expect(others.map(({ n }) => n).sort()).toEqual([1, 2, 3, 4])
      expect(others.every(({ attempt }) => attempt === 1)).toBe(true)
      // Nothing is left: the one it handled was acknowledged, or it would be in flight for an hour. (The server
      // counts the test's own acks a moment after they were sent.)
      await lagBecomes(topic, { pending: 0, inFlight: 0 }, 3_000)
    },
    40_000
  )

  it("a second signal during the close ends the process at once, without waiting for the running handler", async () => {
    const { consumer } = await handlingFirst(face, 3, 20_000)
    consumer.child.kill("SIGTERM")
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(consumer.child.exitCode === null && consumer.child.signalCode === null, "still closing").toBe(true)
    const again = Date.now()
    consumer.child.kill("SIGTERM")
    const end = await consumer.ended(5_000)
    expect(end).toMatchObject({ code: null, signal: "SIGTERM" })
    expect(end.at - again).toBeLessThan(2_000)
    expect(consumer.lines).not.toContain("handled 0")
  }, 40_000)
})
