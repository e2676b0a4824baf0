/**
 * Publishes awaiting their stream's confirmation, against a real server, both through the client's
 * request multiplexer and, for a client without one, through `js.publish`: what the stream answers
 * (sequence, duplicate, a full stream's refusal), no stream at all, no answer in time, and a connection
 * that closes with publishes waiting. The client this package depends on has the multiplexer.
 */
import { describe, expect, it } from "@effect/vitest"
import { DiscardPolicy, jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node"
import { Effect } from "effect"
import { type ClientProtocol, Confirmations, clientProtocolOf } from "../src/internal/Confirmations.ts"
import { isNoResponders, topicFullOf } from "../src/internal/errors.ts"
import { NatsServer } from "../src/testing/index.ts"
import { connection } from "./connection.ts"

let counter = 0
const uniqueSubject = (label: string) => `confirm.${Date.now().toString(36)}.${label}-${++counter}`

/** Headers with the message id JetStream deduplicates on. */
const withId = (id: string) => {
  const headers = natsHeaders()
  headers.set("Nats-Msg-Id", id)
  return headers
}

const payload = new TextEncoder().encode('{"n":1}')

/** A stream for `subject`, holding at most `maxMessages` and refusing more. */
const createStream = (nc: NatsConnection, subject: string, maxMessages = -1) =>
  Effect.promise(async () => {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({
      name: subject.replaceAll(".", "~"),
      subjects: [subject],
      storage: StorageType.Memory,
      max_msgs: maxMessages,
      discard: DiscardPolicy.New
    })
  })

/** The publish's error, or a test failure when it was confirmed. */
const rejection = (publish: Promise<unknown>) =>
  Effect.promise(() =>
    publish.then(
      (ack) => {
        throw new Error(`expected a failure, got ${JSON.stringify(ack)}`)
      },
      (error: unknown) => error
    )
  )

/** A subject whose only subscriber takes every message and never answers: publishes to it are never confirmed. */
const silentSubject = (nc: NatsConnection, label: string) =>
  Effect.gen(function* () {
    const subject = uniqueSubject(label)
    nc.subscribe(subject)
    yield* Effect.promise(() => nc.flush())
    return subject
  })

/** The messages of the errors that `rejection`s ended with, within 2 seconds. */
const failureMessages = (rejections: ReadonlyArray<Effect.Effect<unknown>>) =>
  Effect.map(Effect.all(rejections).pipe(Effect.timeout("2 seconds")), (failures) =>
    failures.map((failure) => (failure as Error).message)
  )

/** Requests the client's multiplexer still waits for. */
const muxSizeOf = (nc: NatsConnection): number =>
  (
    nc as NatsConnection & { readonly protocol: { readonly muxSubscriptions: { size(): number } } }
  ).protocol.muxSubscriptions.size()

const modes: ReadonlyArray<readonly [string, (nc: NatsConnection) => ClientProtocol | undefined]> = [
  ["through the multiplexer", clientProtocolOf],
  ["through js.publish", () => undefined]
]

/** Confirmations on a fresh connection to the test's server, stopped with the scope. */
const confirmationsOn = (
  target: NatsServer.ConnectTarget,
  protocolOf: (nc: NatsConnection) => ClientProtocol | undefined,
  timeoutMillis = 5000
) =>
  Effect.gen(function* () {
    const nc = yield* connection(target)
    const confirmations = yield* Effect.acquireRelease(
      Effect.sync(() => new Confirmations(nc, protocolOf(nc), jetstream(nc), timeoutMillis)),
      (opened) => Effect.sync(() => opened.close())
    )
    return { nc, confirmations }
  })

describe("Confirmations", () => {
  it.live("the NATS client has the request multiplexer that publishes go through", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const nc = yield* connection(server.connectTarget)
        expect(clientProtocolOf(nc)).toBeDefined()
      })
    )
  )

  for (const [label, protocolOf] of modes) {
    it.live(`${label}: a publish is confirmed with the stream's sequence, and its id again as a duplicate`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* NatsServer.scoped()
          const { nc, confirmations } = yield* confirmationsOn(server.connectTarget, protocolOf)
          const subject = uniqueSubject("sequence")
          yield* createStream(nc, subject)
          const first = yield* Effect.promise(() => confirmations.publish(subject, payload, withId("a")))
          const second = yield* Effect.promise(() => confirmations.publish(subject, payload, withId("b")))
          const again = yield* Effect.promise(() => confirmations.publish(subject, payload, withId("a")))
          expect([first.seq, first.duplicate, second.seq, second.duplicate]).toEqual([1, false, 2, false])
          expect([again.seq, again.duplicate]).toEqual([1, true])
          expect(first.stream).toBe(subject.replaceAll(".", "~"))
        })
      )
    )

    it.live(`${label}: a full stream's refusal is the failure, naming the limit`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* NatsServer.scoped()
          const { nc, confirmations } = yield* confirmationsOn(server.connectTarget, protocolOf)
          const subject = uniqueSubject("full")
          yield* createStream(nc, subject, 1)
          yield* Effect.promise(() => confirmations.publish(subject, payload, withId("a")))
          const refused = yield* rejection(confirmations.publish(subject, payload, withId("b")))
          expect(topicFullOf("full", refused)?.limit).toBe("messages")
        })
      )
    )

    it.live(`${label}: a subject no stream serves fails with no responders`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* NatsServer.scoped()
          const { confirmations } = yield* confirmationsOn(server.connectTarget, protocolOf)
          const refused = yield* rejection(confirmations.publish(uniqueSubject("nowhere"), payload, withId("a")))
          expect(isNoResponders(refused)).toBe(true)
        })
      )
    )

    it.live(`${label}: a publish that nobody answers fails with a timeout`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* NatsServer.scoped()
          const { nc, confirmations } = yield* confirmationsOn(server.connectTarget, protocolOf, 200)
          const subject = yield* silentSubject(nc, "silent")
          const started = Date.now()
          const refused = yield* rejection(confirmations.publish(subject, payload, withId("a")))
          expect((refused as Error).name).toBe("TimeoutError")
          expect(Date.now() - started).toBeGreaterThanOrEqual(200)
        })
      )
    )

    it.live(`${label}: a publish the user may not make fails at once with the server's refusal`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* NatsServer.scopedProcess({
            configText: `authorization { users: [ { user: "limited", password: "limited-pass", permissions: {
              publish: { allow: ["$JS.API.>", "confirm.>"] }, subscribe: { allow: ["_INBOX.>"] }
            } } ] }`
          })
          const { confirmations } = yield* confirmationsOn(
            { servers: server.url, user: "limited", pass: "limited-pass" },
            protocolOf
          )
          const started = Date.now()
          const refused = yield* rejection(confirmations.publish("forbidden.orders", payload, withId("a")))
          expect((refused as Error).message).toMatch(/permissions violation/i)
          // Refused by the server, not timed out.
          expect(Date.now() - started).toBeLessThan(2000)
        })
      )
    )

    it.live(`${label}: a publish on a closed connection fails, and nothing is left waiting`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* NatsServer.scoped()
          const { nc, confirmations } = yield* confirmationsOn(server.connectTarget, protocolOf)
          yield* Effect.promise(() => nc.close())
          const refused = yield* rejection(confirmations.publish(uniqueSubject("closed"), payload, withId("a")))
          expect((refused as Error).message).toMatch(/closed/i)
          expect(confirmations.waiting).toBe(0)
        })
      )
    )

    it.live(`${label}: publishes waiting when the connection closes fail`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* NatsServer.scoped()
          const { nc, confirmations } = yield* confirmationsOn(server.connectTarget, protocolOf)
          const subject = yield* silentSubject(nc, "closing")
          const waiting = [1, 2, 3].map((n) => rejection(confirmations.publish(subject, payload, withId(`${n}`))))
          yield* Effect.promise(() => nc.close())
          const messages = yield* failureMessages(waiting)
          expect(messages).toEqual(messages.map(() => expect.stringMatching(/closed/i)))
          expect(confirmations.waiting).toBe(0)
        })
      )
    )
  }

  it.live("10,000 publishes with 1,000 in flight are each confirmed once, and none is left waiting", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const { nc, confirmations } = yield* confirmationsOn(server.connectTarget, clientProtocolOf)
        const subject = uniqueSubject("many")
        yield* createStream(nc, subject)
        const sequences: Array<number> = []
        for (let window = 0; window < 10; window++) {
          const acks = yield* Effect.promise(() =>
            Promise.all(
              Array.from({ length: 1000 }, (_, i) => confirmations.publish(subject, payload, withId(`${window}-${i}`)))
            )
          )
          sequences.push(...acks.map((ack) => ack.seq))
        }
        expect(new Set(sequences).size).toBe(10_000)
        expect(Math.max(...sequences)).toBe(10_000)
        expect(confirmations.waiting).toBe(0)
        expect(muxSizeOf(nc)).toBe(0)
      })
    )
  )

  it.live("closing fails the publishes still waiting, and the connection keeps none of them", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const { nc, confirmations } = yield* confirmationsOn(server.connectTarget, clientProtocolOf)
        const subject = yield* silentSubject(nc, "closing-transport")
        const waiting = [1, 2, 3].map((n) => rejection(confirmations.publish(subject, payload, withId(`${n}`))))
        confirmations.close()
        const messages = yield* failureMessages(waiting)
        expect(messages).toEqual(messages.map(() => expect.stringMatching(/transport was closed/)))
        expect(confirmations.waiting).toBe(0)
        expect(muxSizeOf(nc)).toBe(0)
        expect(nc.isClosed()).toBe(false)
      })
    )
  )

  it.live("a publish that times out is failed once, and the other publishes are still confirmed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scoped()
        const { nc, confirmations } = yield* confirmationsOn(server.connectTarget, clientProtocolOf, 300)
        const silent = yield* silentSubject(nc, "silent")
        const stored = uniqueSubject("stored")
        yield* createStream(nc, stored)
        const unanswered = rejection(confirmations.publish(silent, payload, withId("lost")))
        // Published while the silent one waits, and after its time is up.
        const before = yield* Effect.promise(() => confirmations.publish(stored, payload, withId("before")))
        const timedOut = yield* unanswered
        const after = yield* Effect.promise(() => confirmations.publish(stored, payload, withId("after")))
        expect((timedOut as Error).name).toBe("TimeoutError")
        expect([before.seq, after.seq]).toEqual([1, 2])
        expect(confirmations.waiting).toBe(0)
      })
    )
  )
})
