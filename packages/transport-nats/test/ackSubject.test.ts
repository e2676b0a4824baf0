/**
 * A delivery's attempt, sequence and store time come from the message's ack subject, read without the
 * client's `JsMsg.info`. They must agree with what the client reads, on both forms the server writes, and
 * anything else must be refused: it is not a JetStream delivery.
 */

import { describe, expect, it } from "@effect/vitest"
import { AckPolicy, DeliverPolicy, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { afterAll } from "vitest"
import { readAckSubject as readBytes } from "../src/internal/ackSubject.ts"
import { NatsServer } from "../src/testing/index.ts"

const encoder = new TextEncoder()
/** Subjects as the bytes they arrive in. */
const readAckSubject = (subject: string) => readBytes(encoder.encode(subject))

describe("readAckSubject", () => {
  it("reads the form nats-server 2.9 writes", () => {
    expect(readAckSubject("$JS.ACK.orders~created.billing.3.42.17.1732460000123456789.5")).toEqual({
      deliveryCount: 3,
      streamSequence: 42,
      publishedAtMillis: 1732460000123
    })
  })

  it("reads the form with domain and account hash, with and without its trailing tokens", () => {
    const expected = { deliveryCount: 1, streamSequence: 7, publishedAtMillis: 1700000000000 }
    expect(readAckSubject("$JS.ACK._.ACCHASH.orders.billing.1.7.7.1700000000000999999.0")).toEqual(expected)
    expect(readAckSubject("$JS.ACK.hub.ACCHASH.orders.billing.1.7.7.1700000000000999999.0.r4nd0m")).toEqual(expected)
    // Tokens a later server may add at the end are ignored, as the client ignores them.
    expect(readAckSubject("$JS.ACK.hub.ACCHASH.orders.billing.1.7.7.1700000000000999999.0.r4nd0m.x.y")).toEqual(
      expected
    )
  })

  it("keeps the store time exact to the millisecond where nanoseconds exceed what a double holds", () => {
    // 9007199254740993 ns is 2^53 + 1: as a double it would round; its milliseconds do not.
    expect(readAckSubject("$JS.ACK.s.c.1.1.1.9007199254740993.0")?.publishedAtMillis).toBe(9007199254)
    expect(readAckSubject("$JS.ACK.s.c.1.1.1.999999.0")?.publishedAtMillis).toBe(0)
  })

  it("refuses what is not an ack subject of either form", () => {
    for (const subject of [
      "_INBOX.abc.def",
      "$JS.ACK",
      "$JS.ACK.s.c.1.1.1.1",
      "$JS.ACK.s.c.x.1.1.1.0",
      "$JS.ACK.s.c.1..1.1.0",
      "$JS.ACK.s.c.1.1.1.1.0.extra",
      "$JS.ACK.d.h.s.c.x.1.1.1.0",
      "$JS.NAK.s.c.1.1.1.1.0"
    ])
      expect(readAckSubject(subject), subject).toBeUndefined()
  })
})

// NATS_URL when set, else a nats-server of its own; the stream has a run id of its own and is deleted afterwards.
const server = await NatsServer.acquire()
const stream = `ack-subject-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
afterAll(async () => {
  try {
    const nc = await connect({ ...server.connectTarget, timeout: 2_000 })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(stream).catch(() => undefined)
    await nc.close()
  } finally {
    await server.stop()
  }
})

describe("readAckSubject on a real server", () => {
  it("agrees with the client's reading of every delivery, redeliveries included", async () => {
    const nc = await connect({ ...server.connectTarget, timeout: 2_000 })
    try {
      const jsm = await jetstreamManager(nc)
      const js = jetstream(nc)
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
      for (let i = 0; i < 5; i++) await js.publish(`${stream}.orders`, `{"n":${i}}`)
      await jsm.consumers.add(stream, {
        durable_name: "reader",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All
      })
      const consumer = await js.consumers.get(stream, "reader")
      const seen: Array<JsMsg> = []
      // Every message naked once, so that each comes back as a second delivery.
      for await (const message of await consumer.fetch({ max_messages: 5, expires: 2_000 })) {
        seen.push(message)
        message.nak()
      }
      for await (const message of await consumer.fetch({ max_messages: 5, expires: 2_000 })) {
        seen.push(message)
        message.ack()
      }
      expect(seen.map((message) => message.info.deliveryCount)).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2])
      for (const message of seen) {
        const { deliveryCount, streamSequence } = message.info
        const reply = (message as JsMsg & { readonly reply: string }).reply
        const expected = {
          deliveryCount,
          streamSequence,
          // The exact milliseconds: `info.timestampNanos` is a double, rounded at this size.
          publishedAtMillis: Number(message.timestampNanos / 1_000_000n)
        }
        expect(readAckSubject(reply)).toEqual(expected)
      }
    } finally {
      await nc.close()
    }
  })
})
