/**
 * The client internals the transport uses, on real connections of the client this package depends on: the
 * command writer, the request multiplexer, whether it is connected, the options with their inbox prefix,
 * status events that can be stopped, and a message's reply subject as the bytes it arrived in. A connection without one of them is refused when the transport is
 * made, naming it and the client Sluice supports; so is a message without its reply bytes.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { NatsTransport } from "../src/index.ts"
import { clientInternalsOf, replyOf, SUPPORTED_CLIENT } from "../src/internal/clientInternals.ts"
import { NatsServer } from "../src/testing/index.ts"
import { connection } from "./connection.ts"
import { eventually } from "./eventually.ts"

const encoder = new TextEncoder()

/** Bytes as a plain array, to compare a Buffer with a Uint8Array by content. */
const contentOf = (bytes: Uint8Array | undefined): Array<number> | undefined =>
  bytes === undefined ? undefined : [...bytes]

/** `connection` with its own properties `overrides` on top. */
const without = (nc: NatsConnection, overrides: Record<string, unknown>): NatsConnection =>
  Object.assign(Object.create(nc) as NatsConnection, overrides)

describe("clientInternals", () => {
  it.live("a connection of the client has the command writer, the request multiplexer and its options", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const plain = yield* Effect.fromResult(clientInternalsOf(yield* connection(server.connectTarget)))
        const prefixed = yield* Effect.fromResult(
          clientInternalsOf(yield* connection({ ...server.connectTarget, inboxPrefix: "_SLUICE" }))
        )
        expect(plain.writeCommands).toBeTypeOf("function")
        expect(plain.requests.request).toBeTypeOf("function")
        expect(plain.requests.muxSubscriptions.size()).toBe(0)
        expect(plain.inboxPrefix).toBeUndefined()
        expect(prefixed.inboxPrefix).toBe("_SLUICE")
        expect(plain.connected()).toBe(true)
        const events = yield* Effect.fromResult(plain.statusEvents())
        expect(events.stop).toBeTypeOf("function")
        events.stop()
      })
    )
  )

  it.live("a message of the client keeps its reply subject as the bytes it arrived in", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const nc = yield* connection(server.connectTarget)
        const subject = `reply-of.${Date.now().toString(36)}`
        const received: Array<Msg> = []
        nc.subscribe(subject, {
          callback: (_, message) => {
            received.push(message)
          }
        })
        nc.publish(subject, "with", { reply: `${subject}.answer.é` })
        nc.publish(subject, "without")
        yield* Effect.promise(() => nc.flush())
        yield* eventually("both messages", () => received.length === 2, 5_000)
        const [withReply, withoutReply] = received
        if (withReply === undefined || withoutReply === undefined) return expect.fail("expected both messages")
        expect(contentOf(replyOf(withReply))).toEqual(contentOf(encoder.encode(`${subject}.answer.é`)))
        expect(replyOf(withoutReply)).toBeUndefined()
      })
    )
  )

  it("a message without its reply bytes is refused, naming them and the client Sluice supports", () => {
    expect(() => replyOf({ reply: "a.b" } as Msg)).toThrow(
      `_msg.reply, which Sluice uses; Sluice supports ${SUPPORTED_CLIENT}`
    )
  })

  it.live("a connection without one of them is refused by make with InvalidConfig, naming it and the client", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const nc = yield* connection(server.connectTarget)
        const requests = (yield* Effect.fromResult(clientInternalsOf(nc))).requests
        const refusal = (connection: NatsConnection) => Effect.scoped(Effect.flip(NatsTransport.make({ connection })))
        const cases: ReadonlyArray<readonly [NatsConnection, string]> = [
          [
            without(nc, { protocol: undefined }),
            "protocol.sendCommand, protocol.request, protocol.muxSubscriptions, protocol.connected"
          ],
          [
            without(nc, { protocol: Object.assign(Object.create(requests), { sendCommand: undefined }) }),
            "protocol.sendCommand"
          ],
          [without(nc, { options: undefined }), "options"],
          [
            without(nc, { status: () => ({ [Symbol.asyncIterator]: nc.status()[Symbol.asyncIterator] }) }),
            "status().stop"
          ]
        ]
        for (const [lacking, names] of cases) {
          const error = yield* refusal(lacking)
          expect(error._tag).toBe("InvalidConfig")
          expect(error.message).toContain(`the connection's ${names}, which Sluice uses`)
          expect(error.message).toContain(SUPPORTED_CLIENT)
        }
        // The connection itself is fine.
        expect((yield* Effect.scoped(NatsTransport.make({ connection: nc }))).features.name).toBe("nats")
      })
    )
  )

  it("the client named as supported is the one installed", () => {
    const entry = createRequire(import.meta.url).resolve("@nats-io/nats-core")
    const manifest = JSON.parse(readFileSync(join(dirname(entry), "..", "package.json"), "utf8")) as { version: string }
    expect(SUPPORTED_CLIENT).toBe(`@nats-io/nats-core ${manifest.version}`)
  })
})
