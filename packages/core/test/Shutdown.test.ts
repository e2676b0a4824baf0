/**
 * Signals in this process: `closeOnSignals` and `Shutdown.runMain` install their listeners and remove them,
 * refuse signals no process can trap, and, where another listener of the signal remains (here the test's
 * own, so that the test process lives on), shut down and leave the process to that listener. The tests that
 * end a process by a signal spawn one: packages/transport-nats/test/signals.test.ts.
 */
import process from "node:process"
import { Effect, Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Shutdown, Sluice, Topic } from "../src/index.ts"
import { until } from "./promises.ts"

const notes = Topic.make({ name: "notes", schema: Schema.Struct({ n: Schema.Number }) })
const listeners = () => ({ term: process.listenerCount("SIGTERM"), int: process.listenerCount("SIGINT") })

const keepAlive = () => undefined
afterEach(() => {
  process.removeListener("SIGUSR2", keepAlive)
})

describe("closeOnSignals", () => {
  it("listens for SIGTERM and SIGINT until the function it returns is called, or the client closed", async () => {
    const before = listeners()
    const sluice = await Sluice.connect()
    const uninstall = sluice.closeOnSignals()
    expect(listeners()).toEqual({ term: before.term + 1, int: before.int + 1 })
    uninstall()
    expect(listeners()).toEqual(before)
    sluice.closeOnSignals()
    await sluice.close()
    expect(listeners()).toEqual(before)
  })

  it("refuses what is no non-empty list of signals a process can trap, with InvalidConfig naming signals", async () => {
    const sluice = await Sluice.connect()
    try {
      for (const signals of [[], ["SIGKILL"], ["TERM"], "SIGTERM", [15]])
        expect(() => sluice.closeOnSignals(signals as Array<NodeJS.Signals>)).toThrow(
          expect.objectContaining({ _tag: "InvalidConfig", option: "signals" })
        )
    } finally {
      await sluice.close()
    }
  })

  it("at the signal the client closes; where another listener of it remains, the process is left to that listener", async () => {
    process.on("SIGUSR2", keepAlive)
    const sluice = await Sluice.connect({ logLevel: "none" })
    sluice.closeOnSignals(["SIGUSR2"])
    expect(process.listenerCount("SIGUSR2")).toBe(2)
    process.kill(process.pid, "SIGUSR2")
    await until("the client closed", () => sluice.status === "closed")
    await until("its listener gone", () => process.listenerCount("SIGUSR2") === 1)
    await expect(sluice.publish(notes, { n: 1 })).rejects.toMatchObject({ _tag: "TransportUnavailable" })
  })
})

describe("Shutdown.runMain", () => {
  it("refuses what is no non-empty list of signals a process can trap, with InvalidConfig naming signals", () => {
    for (const signals of [[], ["SIGSTOP"], ["INT"]])
      expect(() => Shutdown.runMain(Effect.void, { signals: signals as Array<NodeJS.Signals> })).toThrow(
        expect.objectContaining({ _tag: "InvalidConfig", option: "signals" })
      )
  })

  it("at the signal the program is interrupted and its scope closes; where another listener remains, the process is left to it", async () => {
    process.on("SIGUSR2", keepAlive)
    const closed: Array<string> = []
    Shutdown.runMain(
      Effect.gen(function* () {
        yield* Effect.addFinalizer(() => Effect.sync(() => closed.push("scope closed")))
        closed.push("running")
        return yield* Effect.never
      }).pipe(Effect.scoped),
      { signals: ["SIGUSR2"] }
    )
    await until("the program runs", () => closed.length === 1)
    expect(process.listenerCount("SIGUSR2")).toBe(2)
    process.kill(process.pid, "SIGUSR2")
    await until("its scope closed", () => closed.length === 2)
    await until("its listener gone", () => process.listenerCount("SIGUSR2") === 1)
    expect(closed).toEqual(["running", "scope closed"])
  })

  it("a program that ends by itself removes its listeners", async () => {
    const before = listeners()
    let ran = false
    Shutdown.runMain(Effect.sync(() => (ran = true)))
    await until("the program ran and its listeners went", () => ran && listeners().term === before.term)
    expect(listeners()).toEqual(before)
  })
})
