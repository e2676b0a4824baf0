/**
 * The command buffer, against a real server: what it queues reaches the server in the order queued, with
 * its reply subjects, through the client's command writer; a turn that queues more than one write's worth
 * is written whole; a publish on a closed connection throws.
 */
import { describe, expect, it } from "@effect/vitest"
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { CommandBuffer } from "../src/internal/CommandBuffer.ts"
import { clientInternalsOf } from "../src/internal/clientInternals.ts"
import { NatsServer } from "../src/testing/index.ts"
import { connection } from "./connection.ts"
import { eventually } from "./eventually.ts"

const encoder = new TextEncoder()
let counter = 0
const uniqueSubject = (label: string) => `commands.${Date.now().toString(36)}.${label}-${++counter}`

/** A command buffer writing through the connection's own command writer. */
const bufferOf = (nc: NatsConnection) =>
  Effect.map(Effect.fromResult(clientInternalsOf(nc)), (internals) => new CommandBuffer(nc, internals.writeCommands))

/** A server, a connection to send on, and what a second connection receives under a fresh subject. */
const receiving = (label: string) =>
  Effect.gen(function* () {
    const server = yield* NatsServer.scoped()
    const sender = yield* connection(server.connectTarget)
    const receiver = yield* connection(server.connectTarget)
    const subject = uniqueSubject(label)
    const received: Array<Msg> = []
    receiver.subscribe(`${subject}.>`, {
      callback: (_, message) => {
        received.push(message)
      }
    })
    yield* Effect.promise(() => receiver.flush())
    return { sender, subject, received }
  })

describe("CommandBuffer", () => {
  it.live("5,000 commands of one turn reach the server in order, with their reply subjects", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { sender, subject, received } = yield* receiving("order")
        const buffer = yield* bufferOf(sender)
        // About 200 KiB of commands: more than the buffer keeps before writing within the turn. Every third
        // is given as bytes, as a delivery gives its ack subject.
        for (let i = 0; i < 5000; i++) {
          const text = (value: string) => (i % 3 === 0 ? encoder.encode(value) : value)
          buffer.publish(
            text(`${subject}.${i}`),
            text(`+ACK ${i}`),
            i % 2 === 0 ? text(`${subject}.reply.${i}`) : undefined
          )
        }
        yield* eventually("all 5,000 commands arrive", () => received.length === 5000, 5_000)
        received.forEach((message, i) => {
          expect(message.subject).toBe(`${subject}.${i}`)
          expect(message.string()).toBe(`+ACK ${i}`)
          expect(message.reply).toBe(i % 2 === 0 ? `${subject}.reply.${i}` : "")
        })
      })
    )
  )

  it.live("a command larger than a write's worth, with text beyond ASCII, reaches the server whole", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { sender, subject, received } = yield* receiving("large")
        const buffer = yield* bufferOf(sender)
        const payload = `ünï ${"x".repeat(100_000)}`
        buffer.publish(`${subject}.small`, "+ACK")
        buffer.publish(`${subject}.é`, payload, `${subject}.reply.ü`)
        buffer.publish(`${subject}.after`, "+ACK")
        yield* eventually("all three commands arrive", () => received.length === 3, 5_000)
        expect(received.map((message) => message.subject)).toEqual([
          `${subject}.small`,
          `${subject}.é`,
          `${subject}.after`
        ])
        expect(received[1]?.string()).toBe(payload)
        expect(received[1]?.reply).toBe(`${subject}.reply.ü`)
      })
    )
  )

  it.live("a publish on a closed connection throws", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const nc = yield* Effect.promise(() => connect(server.connectTarget))
        const buffer = yield* bufferOf(nc)
        yield* Effect.promise(() => nc.close())
        expect(() => buffer.publish(uniqueSubject("closed"), "+ACK")).toThrow(/closed/i)
      })
    )
  )
})
