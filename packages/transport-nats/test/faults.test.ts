/**
 * Faults with real nats-server processes and real signals: a single server SIGKILLed and restarted on its
 * store, the SIGKILL of a replicated stream's leader, a cluster that lost its quorum, and handlers that
 * outlive their ack wait. Each test starts servers of its own (never the machine's 4222), stops them when it
 * ends, and prints its figures as one JSON line.
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Bus, type Consumer, Errors, type Message, Topic, type Transport } from "@sluice/core"
import { type Duration, Effect, Fiber, Schedule, Schema } from "effect"
import { NatsTransport } from "../src/index.ts"
import { NatsCluster, NatsServer } from "../src/testing/index.ts"
import { eventually } from "./eventually.ts"

// ---------------------------------------------------------------------------
// Fixtures

const Job = Schema.Struct({ id: Schema.String, n: Schema.Number })
type Job = typeof Job.Type

/** A topic whose message ids come from the values: a republished job is recognised as a duplicate. */
const jobTopic = (name: string, replicas?: number): Topic.Topic<Job> =>
  Topic.make({ name, schema: Job, id: (job) => job.id, ...(replicas === undefined ? {} : { replicas }) })

/** The JetStream stream of a topic. */
const streamOf = (topic: string): string => topic.replaceAll(".", "~")

const jobs = (prefix: string, from: number, count: number): Array<Job> =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${from + i}`, n: from + i }))

const chunks = <A>(values: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(values.length / size) }, (_, i) => values.slice(i * size, (i + 1) * size))

const encoder = new TextEncoder()

/** The record the Bus would send for `job`, for publishing through the raw transport. */
const recordOf = (topic: Topic.Topic<Job>, job: Job): Transport.OutgoingRecord => ({
  topic: topic.name,
  id: job.id,
  headers: {},
  payload: encoder.encode(JSON.stringify(job))
})

/** Waits until the effect's value passes `check`; fails the test naming `what` after `timeoutMs`. */
const eventuallyEffect = <A, E>(what: string, look: Effect.Effect<A, E>, check: (a: A) => boolean, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    let last: A | undefined
    while (Date.now() <= deadline) {
      const result = yield* Effect.result(look)
      if (result._tag === "Success") {
        last = result.success
        if (check(last)) return last
      }
      yield* Effect.sleep("100 millis")
    }
    return expect.fail(`expected ${what} within ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`)
  })

const promise = <A>(run: () => Promise<A>) => Effect.promise(run)

/** What a consumer received: deliveries per message id, and when a message was first received. */
class Tally {
  readonly deliveries = new Map<string, number>()
  total = 0
  /** When the latest message not received before arrived, in ms since the epoch. */
  lastNewAt = 0
  /** The attempt (delivery count) of that message when it arrived. */
  lastNewAttempt = 0

  record(message: Message.Message<Job>): void {
    this.total++
    const before = this.deliveries.get(message.id) ?? 0
    if (before === 0) {
      this.lastNewAt = Date.now()
      this.lastNewAttempt = message.attempt
    }
    this.deliveries.set(message.id, before + 1)
  }

  get distinct(): number {
    return this.deliveries.size
  }

  missing(ids: Iterable<string>): number {
    let missing = 0
    for (const id of ids) if (!this.deliveries.has(id)) missing++
    return missing
  }

  /** A consumer that records each message in this tally; the Bus acknowledges it after the handler. */
  consume(bus: Bus.BusShape, topic: Topic.Topic<Job>, options: Consumer.ConsumeOptions) {
    return bus.consume(topic, { maxInFlight: 500, ...options }, (message) => Effect.sync(() => this.record(message)))
  }
}

/**
 * Starts the tally's consumer on a freshly started cluster. Creating a stream with three replicas right after
 * the cluster formed has been seen to take more than the 5 s request timeout on a loaded machine (the stream's
 * own leader election), so a start that met `TransportUnavailable` is tried again, as a service would at start-up.
 */
const consumeOnCluster = (tally: Tally, bus: Bus.BusShape, topic: Topic.Topic<Job>, options: Consumer.ConsumeOptions) =>
  tally.consume(bus, topic, options).pipe(
    Effect.retry({
      schedule: Schedule.spaced("500 millis"),
      times: 20,
      while: (error) => error._tag === "TransportUnavailable"
    })
  )

/**
 * A careful producer: publishes `values` in batches through the Bus, and retries a batch that failed (after
 * the Bus's own retries) with the same ids until it is confirmed, counting the failed attempts.
 */
const carefulProducer = (bus: Bus.BusShape, topic: Topic.Topic<Job>, values: ReadonlyArray<Job>, batchSize: number) => {
  const state = {
    confirmed: new Set<string>(),
    /** When each batch was confirmed, in ms since the epoch. */
    confirmedAt: [] as Array<number>,
    failedAttempts: 0
  }
  const run = Effect.forEach(
    chunks(values, batchSize),
    (batch) =>
      bus.publishAll(topic, batch).pipe(
        Effect.tapError(() => Effect.sync(() => state.failedAttempts++)),
        Effect.retry({
          schedule: Schedule.spaced("100 millis"),
          while: (error) => error._tag === "TransportUnavailable"
        }),
        Effect.tap(() =>
          Effect.sync(() => {
            for (const job of batch) state.confirmed.add(job.id)
            state.confirmedAt.push(Date.now())
          })
        )
      ),
    { discard: true }
  )
  return { state, run }
}

/** The longest time between two successive confirmations, in ms. */
const longestGap = (times: ReadonlyArray<number>): number => {
  let longest = 0
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, (times[i] ?? 0) - (times[i - 1] ?? 0))
  return longest
}

/** The node that leads a group's consumer, asked with a plain JetStream client. */
const consumerLeader = async (servers: Array<string>, stream: string, group: string): Promise<string | undefined> => {
  const connection = await connect({ servers })
  try {
    return (await (await jetstreamManager(connection)).consumers.info(stream, group)).cluster?.leader
  } finally {
    await connection.close()
  }
}

/** The `Nats-Msg-Id` of every message a stream stores, read with a plain JetStream client up to its last sequence. */
const storedIds = async (servers: Array<string>, stream: string): Promise<Array<string>> => {
  const connection = await connect({ servers })
  try {
    const manager = await jetstreamManager(connection)
    const { state } = await manager.streams.info(stream)
    const ids: Array<string> = []
    if (state.messages === 0) return ids
    const reader = await jetstream(connection).consumers.get(stream)
    const messages = await reader.consume()
    try {
      for await (const message of messages) {
        ids.push(message.headers?.get("Nats-Msg-Id") ?? `(no id: sequence ${message.seq})`)
        if (message.seq >= state.last_seq) break
      }
    } finally {
      messages.stop()
    }
    return ids
  } finally {
    await connection.close()
  }
}

// ---------------------------------------------------------------------------

describe("NATS faults", () => {
  it.live(
    "a server killed with SIGKILL and restarted on the same store loses no confirmed message",
    () =>
      Effect.gen(function* () {
        const MESSAGES = 20_000
        const server = yield* NatsServer.scopedProcess()
        const transport = yield* NatsTransport.make(server.connectTarget)
        const bus = Bus.make(transport)
        const topic = jobTopic("faults.restart")
        const tally = new Tally()
        yield* tally.consume(bus, topic, { group: "workers" })
        const producer = carefulProducer(bus, topic, jobs("restart", 1, MESSAGES), 100)
        const publishing = yield* Effect.forkChild(producer.run)

        yield* eventually("half the messages confirmed", () => producer.state.confirmed.size >= MESSAGES / 2, 60_000)
        const killedAt = Date.now()
        yield* promise(() => server.kill("SIGKILL"))
        yield* Effect.sleep("500 millis")
        yield* promise(() => server.restart())
        const restartedAt = Date.now()
        yield* Fiber.join(publishing)
        const confirmed = producer.state.confirmed
        yield* eventually("every confirmed message consumed", () => tally.missing(confirmed) === 0, 60_000)

        const lost = tally.missing(confirmed)
        console.log(
          JSON.stringify({
            case: "single server SIGKILL and restart",
            published: MESSAGES,
            confirmed: confirmed.size,
            failedPublishAttempts: producer.state.failedAttempts,
            downMs: restartedAt - killedAt,
            publishOutageMs: longestGap(producer.state.confirmedAt),
            consumed: tally.distinct,
            redelivered: tally.total - tally.distinct,
            lost
          })
        )
        expect(lost).toBe(0)
        expect(confirmed.size).toBe(MESSAGES)
      }),
    180_000
  )

  it.live(
    "a stream with 3 replicas survives the SIGKILL of its leader",
    () =>
      Effect.gen(function* () {
        const MESSAGES = 20_000
        const cluster = yield* NatsCluster.scoped()
        const transport = yield* NatsTransport.make({ servers: cluster.urls })
        const bus = Bus.make(transport)
        const topic = jobTopic("faults.replicated", 3)
        const stream = streamOf(topic.name)
        const tally = new Tally()
        // Deliveries on their way to the client when the server it is connected to dies are lost on the wire,
        // and the group's consumer sends them again only after their ack wait: a group that must catch up within
        // 10 s of a failover needs an ack wait shorter than that (the default, 30 s, brought the last message
        // 30 s after the kill). The consumer keeps long handlers' messages alive, so a short ack wait is cheap.
        yield* consumeOnCluster(tally, bus, topic, { group: "workers", ackWait: "5 seconds" })
        const producer = carefulProducer(bus, topic, jobs("replicated", 1, MESSAGES), 100)
        const publishing = yield* Effect.forkChild(producer.run)

        yield* eventually("half the messages confirmed", () => producer.state.confirmed.size >= MESSAGES / 2, 60_000)
        const leader = yield* promise(() => cluster.streamLeader(stream))
        const groupLeader = yield* promise(() => consumerLeader(cluster.urls, stream, "workers"))
        const killedAt = Date.now()
        yield* promise(() => cluster.node(leader).kill("SIGKILL"))
        const successor = yield* promise(() => cluster.streamLeader(stream))
        const electedMs = Date.now() - killedAt
        yield* eventually(
          "three quarters of the messages confirmed",
          () => producer.state.confirmed.size >= (MESSAGES * 3) / 4,
          60_000
        )
        yield* promise(() => cluster.node(leader).restart())
        yield* Fiber.join(publishing)
        const lastConfirmedAt = producer.state.confirmedAt.at(-1) ?? Date.now()
        const confirmed = producer.state.confirmed
        yield* eventually("every confirmed message consumed", () => tally.missing(confirmed) === 0, 60_000)
        const catchUpMs = Math.max(0, tally.lastNewAt - lastConfirmedAt)

        const stored = yield* promise(() => storedIds(cluster.urls, stream))
        const storedSet = new Set(stored)
        const storedDistinct = storedSet.size
        const info = yield* bus.topicInfo(topic)
        const lost = tally.missing(confirmed)
        const notStored = [...confirmed].filter((id) => !storedSet.has(id)).length
        console.log(
          JSON.stringify({
            case: "R3 stream leader SIGKILL",
            killedLeader: leader,
            groupLeader,
            newLeader: successor,
            newLeaderSeenAfterMs: electedMs,
            published: MESSAGES,
            confirmed: confirmed.size,
            failedPublishAttempts: producer.state.failedAttempts,
            publishOutageMs: longestGap(producer.state.confirmedAt),
            consumed: tally.distinct,
            redelivered: tally.total - tally.distinct,
            lost,
            catchUpMs,
            lastNewAttempt: tally.lastNewAttempt,
            lastNewAfterKillMs: tally.lastNewAt - killedAt,
            // Read back with a plain @nats-io/jetstream ordered consumer, every message up to the last sequence.
            stored: stored.length,
            storedTwice: stored.length - storedDistinct,
            confirmedNotStored: notStored,
            topicInfoMessages: info.messages
          })
        )
        expect(lost).toBe(0)
        expect(confirmed.size).toBe(MESSAGES)
        expect(notStored).toBe(0)
        expect(stored.length - storedDistinct).toBe(0)
        expect(info.messages).toBe(confirmed.size)
        expect(catchUpMs).toBeLessThan(10_000)
      }),
    180_000
  )

  it.live(
    "with 2 of 3 nodes down, publishes fail with an error and are never confirmed; after restart nothing confirmed is lost",
    () =>
      Effect.gen(function* () {
        const cluster = yield* NatsCluster.scoped()
        const REQUEST_TIMEOUT_MS = 2_000
        const transport = yield* NatsTransport.make({ servers: cluster.urls, requestTimeout: REQUEST_TIMEOUT_MS })
        const bus = Bus.make(transport)
        const topic = jobTopic("faults.quorum", 3)
        const stream = streamOf(topic.name)
        const tally = new Tally()
        yield* consumeOnCluster(tally, bus, topic, { group: "workers" })

        const before = carefulProducer(bus, topic, jobs("before", 1, 2_000), 100)
        yield* before.run
        yield* eventually(
          "the messages before the outage consumed",
          () => tally.missing(before.state.confirmed) === 0,
          30_000
        )

        // The two followers go: the leader survives alone, the case where a leader must not confirm what it
        // cannot replicate to a majority.
        const leader = yield* promise(() => cluster.streamLeader(stream))
        const down = cluster.nodes.filter((node) => node.name !== leader)
        yield* promise(() => Promise.all(down.map((node) => node.kill("SIGKILL"))))

        // During the outage: one publish and a batch through the Bus (with its own retries), a batch through the transport.
        const single = jobs("outage-bus", 1, 1)
        const batch = jobs("outage-bus-batch", 1, 10)
        const raw = jobs("outage-raw", 1, 10)
        const timed = <A, E>(effect: Effect.Effect<A, E>) =>
          Effect.suspend(() => {
            const started = Date.now()
            return Effect.map(Effect.flip(effect), (error) => ({ error, ms: Date.now() - started }))
          })
        const [busSingle, busBatch, rawBatch] = yield* Effect.all(
          [
            timed(bus.publish(topic, single[0] as Job)),
            timed(bus.publishAll(topic, batch)),
            timed(transport.publish(raw.map((job) => recordOf(topic, job))))
          ],
          { concurrency: "unbounded" }
        )

        yield* promise(() => Promise.all(down.map((node) => node.restart())))
        yield* promise(() => cluster.streamLeader(stream))
        // What the failed publishes left: they were not confirmed, and may or may not be stored.
        const storedBeforeRetry = (yield* eventuallyEffect("topic info", bus.topicInfo(topic), () => true, 30_000))
          .messages

        // The careful producer publishes the unconfirmed messages again with their ids, then goes on.
        const after = carefulProducer(bus, topic, [...single, ...batch, ...raw, ...jobs("after", 1, 2_000)], 100)
        yield* after.run
        const confirmed = new Set([...before.state.confirmed, ...after.state.confirmed])
        yield* eventually("every confirmed message consumed", () => tally.missing(confirmed) === 0, 60_000)
        const info = yield* bus.topicInfo(topic)
        const lost = tally.missing(confirmed)

        console.log(
          JSON.stringify({
            case: "2 of 3 nodes down",
            killed: down.map((node) => node.name),
            survivor: leader,
            confirmedBefore: before.state.confirmed.size,
            busPublishFailedAfterMs: busSingle.ms,
            busPublishAllFailedAfterMs: busBatch.ms,
            transportPublishFailedAfterMs: rawBatch.ms,
            errors: [busSingle.error._tag, busBatch.error._tag, rawBatch.error._tag],
            unconfirmedDuringOutage: single.length + batch.length + raw.length,
            storedWhileUnconfirmed: storedBeforeRetry - before.state.confirmed.size,
            confirmedAfter: after.state.confirmed.size,
            failedPublishAttemptsAfter: after.state.failedAttempts,
            stored: info.messages,
            consumed: tally.distinct,
            redelivered: tally.total - tally.distinct,
            lost
          })
        )
        for (const outcome of [busSingle, busBatch, rawBatch])
          expect(outcome.error).toBeInstanceOf(Errors.TransportUnavailable)
        // One attempt waits for its confirmation, and for a stream lookup when no server answered: two request
        // timeouts. The Bus makes 6 attempts with about 3 s of backoff between them.
        expect(rawBatch.ms).toBeLessThan(2 * REQUEST_TIMEOUT_MS + 1_000)
        expect(Math.max(busSingle.ms, busBatch.ms)).toBeLessThan(6 * 2 * REQUEST_TIMEOUT_MS + 5_000)
        expect(lost).toBe(0)
        expect(info.messages).toBe(confirmed.size)
      }),
    180_000
  )

  describe("a handler that outlives the ack wait", () => {
    const HANDLER_MS = 3_500
    const MESSAGES = 3

    /** How `slowRun` consumes: the consumer's options besides the ack wait, and who sends `working()`. */
    interface SlowRunOptions {
      /** Handlers at once; the consumer's default (1) when absent. */
      readonly concurrency?: number
      readonly workingInterval?: Duration.Input
      /** The handler itself sends `working()` every 300 ms while it works. */
      readonly handlerSendsWorking: boolean
    }

    /**
     * Consumes `MESSAGES` jobs with `ackWait: "1 second"` and a handler that takes 3.5 s, on a server of its
     * own; returns each handler run (id and attempt) and the group's lag once nothing more is going on.
     */
    const slowRun = (name: string, options: SlowRunOptions) =>
      Effect.gen(function* () {
        const server = yield* NatsServer.scopedProcess()
        const transport = yield* NatsTransport.make(server.connectTarget)
        const bus = Bus.make(transport)
        const topic = jobTopic(name)
        yield* bus.publishAll(topic, jobs(name.replaceAll(".", "-"), 1, MESSAGES))
        const runs: Array<{ readonly id: string; readonly attempt: number }> = []
        const finished = new Set<string>()
        const started = Date.now()
        yield* bus.consume(
          topic,
          {
            group: "slow",
            ackWait: "1 second",
            ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
            ...(options.workingInterval === undefined ? {} : { workingInterval: options.workingInterval })
          },
          (message) =>
            Effect.gen(function* () {
              runs.push({ id: message.id, attempt: message.attempt })
              if (options.handlerSendsWorking) {
                for (let elapsed = 0; elapsed < HANDLER_MS; elapsed += 300) {
                  yield* Effect.sleep("300 millis")
                  yield* message.working
                }
              } else yield* Effect.sleep(HANDLER_MS)
              finished.add(message.id)
            })
        )
        yield* eventually(`every message handled`, () => finished.size >= MESSAGES, 60_000)
        // More than an ack wait: a message that was not kept alive would have been delivered again by now.
        yield* Effect.sleep("1500 millis")
        const lag = yield* eventuallyEffect(
          "nothing pending or in flight",
          bus.lag(topic, "slow"),
          (lag) => lag.pending === 0 && lag.inFlight === 0,
          10_000
        )
        return { runs, lag, ms: Date.now() - started }
      })

    const report = (name: string, outcome: Effect.Success<ReturnType<typeof slowRun>>) =>
      console.log(
        JSON.stringify({
          case: name,
          messages: MESSAGES,
          handlerMs: HANDLER_MS,
          ackWaitMs: 1_000,
          handlerRuns: outcome.runs.length,
          runs: outcome.runs.map((run) => `${run.id}#${run.attempt}`),
          lag: outcome.lag,
          ms: outcome.ms
        })
      )

    const expectOneRunEach = (outcome: Effect.Success<ReturnType<typeof slowRun>>) => {
      expect(outcome.runs.map((run) => run.attempt)).toEqual(Array.from({ length: MESSAGES }, () => 1))
      expect(new Set(outcome.runs.map((run) => run.id)).size).toBe(MESSAGES)
      expect(outcome.lag).toMatchObject({ pending: 0, inFlight: 0 })
    }

    it.live(
      "a consumer whose handler outlives the ack wait while working() is sent gets no redelivery",
      () =>
        Effect.gen(function* () {
          // One handler per message: each message is handled from the start, and the consumer keeps it alive.
          const outcome = yield* slowRun("faults.slow", { concurrency: MESSAGES, handlerSendsWorking: false })
          report("handler outlives ack wait, consumer sends working()", outcome)
          expectOneRunEach(outcome)
        }),
      60_000
    )

    it.live(
      "a handler that calls working() itself keeps its message from redelivery",
      () =>
        Effect.gen(function* () {
          // The consumer's own keep-alive would first act after a minute: only the handler's working() counts.
          const outcome = yield* slowRun("faults.manual", {
            concurrency: MESSAGES,
            workingInterval: "1 minute",
            handlerSendsWorking: true
          })
          report("handler outlives ack wait, handler sends working()", outcome)
          expectOneRunEach(outcome)
        }),
      60_000
    )

    it.live(
      "messages waiting behind a handler that outlives the ack wait are not handled twice",
      () =>
        Effect.gen(function* () {
          // The consumer's defaults: one handler at a time, so the second and third messages wait 3.5 s and 7 s.
          const outcome = yield* slowRun("faults.queued", { handlerSendsWorking: false })
          report("messages queued behind a handler that outlives ack wait", outcome)
          expectOneRunEach(outcome)
        }),
      60_000
    )
  })
})
