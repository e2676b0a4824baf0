/**
 * Publishes awaiting their stream's confirmation through the client's request multiplexer, against a real
 * server: what the stream answers (sequence, duplicate, a full stream's refusal), no stream at all, no
 * answer in time, and a connection that closes with publishes waiting.
 */
import { describe, expect, it } from "@effect/vitest"
import { DiscardPolicy, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node"
import { Effect } from "effect"
import { Confirmations } from "../src/internal/Confirmations.ts"
import { clientInternalsOf } from "../src/internal/clientInternals.ts"
import { isNoResponders, isStoreFailed } from "../src/internal/errors.ts"
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

/**
 * Confirmations on a fresh connection to the test's server, stopped with the scope, and how many requests
 * the client's multiplexer still waits for.
 */
const confirmationsOn = (target: NatsServer.ConnectTarget, timeoutMillis = 5000) =>
  Effect.gen(function* () {
    const nc = yield* connection(target)
    const { requests } = yield* Effect.fromResult(clientInternalsOf(nc))
    const confirmations = yield* Effect.acquireRelease(
      Effect.sync(() => new Confirmations(nc, requests, timeoutMillis)),
      (opened) => Effect.sync(() => opened.close())
    )
    return { nc, confirmations, muxSize: () => requests.muxSubscriptions.size() }
  })

/** {@link confirmationsOn} a server of the test's own. */
const confirmationsOnServer = (timeoutMillis?: number) =>
  Effect.flatMap(NatsServer.scoped(), (server) => confirmationsOn(server.connectTarget, timeoutMillis))

/** {@link confirmationsOnServer}, with a fresh subject that a stream stores (see `createStream`). */
const confirmationsOnStream = (label: string, maxMessages?: number) =>
  Effect.gen(function* () {
    const opened = yield* confirmationsOnServer()
    const subject = uniqueSubject(label)
    yield* createStream(opened.nc, subject, maxMessages)
    return { ...opened, subject }
  })

describe("Confirmations", () => {
  it.live("a publish is confirmed with the stream's sequence, and its id again as a duplicate", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { confirmations, subject } = yield* confirmationsOnStream("sequence")
        const first = yield* Effect.promise(() => confirmations.publish(subject, payload, withId("a")))
        const second = yield* Effect.promise(() => confirmations.publish(subject, payload, withId("b")))
        const again = yield* Effect.promise(() => confirmations.publish(subject, payload, withId("a")))
        expect([first.seq, first.duplicate, second.seq, second.duplicate]).toEqual([1, false, 2, false])
        expect([again.seq, again.duplicate]).toEqual([1, true])
        expect(first.stream).toBe(subject.replaceAll(".", "~"))
      })
    )
  )

  it.live("a full stream's refusal is the failure, with the code of a message the stream did not store", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { confirmations, subject } = yield* confirmationsOnStream("full", 1)
        yield* Effect.promise(() => confirmations.publish(subject, payload, withId("a")))
        const refused = yield* rejection(confirmations.publish(subject, payload, withId("b")))
        expect(isStoreFailed(refused)).toBe(true)
      })
    )
  )

  it.live("a subject no stream serves fails with no responders", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { confirmations } = yield* confirmationsOnServer()
        const refused = yield* rejection(confirmations.publish(uniqueSubject("nowhere"), payload, withId("a")))
        expect(isNoResponders(refused)).toBe(true)
      })
    )
  )

  it.live("a publish that nobody answers fails with a timeout", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { nc, confirmations } = yield* confirmationsOnServer(200)
        const subject = yield* silentSubject(nc, "silent")
        const started = Date.now()
        const refused = yield* rejection(confirmations.publish(subject, payload, withId("a")))
        expect((refused as Error).name).toBe("TimeoutError")
        expect(Date.now() - started).toBeGreaterThanOrEqual(200)
      })
    )
  )

  it.live("a publish the user may not make fails at once with the server's refusal", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess({
          configText: `authorization { users: [ { user: "limited", password: "limited-pass", permissions: {
              publish: { allow: ["$JS.API.>", "confirm.>"] }, subscribe: { allow: ["_INBOX.>"] }
            } } ] }`
        })
        const { confirmations } = yield* confirmationsOn({ servers: server.url, user: "limited", pass: "limited-pass" })
        const started = Date.now()
        const refused = yield* rejection(confirmations.publish("forbidden.orders", payload, withId("a")))
        expect((refused as Error).message).toMatch(/permissions violation/i)
        // Refused by the server, not timed out.
        expect(Date.now() - started).toBeLessThan(2000)
      })
    )
  )

  it.live("a publish on a closed connection fails, and nothing is left waiting", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { nc, confirmations, muxSize } = yield* confirmationsOnServer()
        yield* Effect.promise(() => nc.close())
        const refused = yield* rejection(confirmations.publish(uniqueSubject("closed"), payload, withId("a")))
        expect((refused as Error).message).toMatch(/closed/i)
        expect(muxSize()).toBe(0)
      })
    )
  )

  it.live("publishes waiting when the connection closes fail", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { nc, confirmations, muxSize } = yield* confirmationsOnServer()
        const subject = yield* silentSubject(nc, "closing")
        const waiting = [1, 2, 3].map((n) => rejection(confirmations.publish(subject, payload, withId(`${n}`))))
        yield* Effect.promise(() => nc.close())
        const messages = yield* failureMessages(waiting)
        expect(messages).toEqual(messages.map(() => expect.stringMatching(/closed/i)))
        expect(muxSize()).toBe(0)
      })
    )
  )

  it.live("10,000 publishes with 1,000 in flight are each confirmed once, and none is left waiting", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { confirmations, muxSize, subject } = yield* confirmationsOnStream("many")
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
        expect(muxSize()).toBe(0)
      })
    )
  )

  it.live("closing fails the publishes still waiting, and the connection keeps none of them", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { nc, confirmations, muxSize } = yield* confirmationsOnServer()
        const subject = yield* silentSubject(nc, "closing-transport")
        const waiting = [1, 2, 3].map((n) => rejection(confirmations.publish(subject, payload, withId(`${n}`))))
        confirmations.close()
        const messages = yield* failureMessages(waiting)
        expect(messages).toEqual(messages.map(() => expect.stringMatching(/transport was closed/)))
        expect(muxSize()).toBe(0)
        expect(nc.isClosed()).toBe(false)
      })
    )
  )

  it.live("a publish that times out is failed once, and the other publishes are still confirmed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { nc, confirmations, muxSize } = yield* confirmationsOnServer(300)
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
        expect(muxSize()).toBe(0)
      })
    )
  )
})
