/**
 * The baseline: the same cases with the raw `@nats-io/*` client, used the
 * fastest straightforward way: `JSON.stringify` and `js.publish` with a
 * message id, `consume()` with a callback on a durable pull consumer with
 * explicit acks, `JSON.parse` of each message (no validation).
 */
import { randomBytes } from "node:crypto"
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  StorageType
} from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import type { Turn } from "../runner.ts"
import { type Lap, QuarterSamples, Stopwatch } from "../stats.ts"
import { decodeOrder, encodeOrder } from "./order.ts"
import { BASELINE, consumerName, type Run, type RunParams } from "./params.ts"
import { streamOf, type Target } from "./target.ts"

/** JetStream's default dedup window, which the Sluice transport also gives a topic. */
const DEDUP_WINDOW_NANOS = 2 * 60 * 1_000_000_000

// Message ids as Sluice makes them: a random prefix per process and a counter.
const idPrefix = randomBytes(8).toString("hex")
let idCounter = 0
const nextId = (): string => `${idPrefix}-${(idCounter++).toString(36)}`

export interface Client {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
}

/**
 * Connects to the target. `noRandomize`: on the cluster, both implementations connect to its first node
 * rather than to a random one, so that they are compared on the same path.
 */
const connectTo = async (target: Target): Promise<Client> => {
  const nc = await connect({
    servers: typeof target.servers === "string" ? target.servers : [...target.servers],
    ...(target.user === undefined ? {} : { user: target.user }),
    ...(target.pass === undefined ? {} : { pass: target.pass }),
    noRandomize: true,
    // As the Sluice transport connects: without async stack traces, which cost two Error objects per request.
    noAsyncTraces: true
  })
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) }
}

/** Creates a topic's stream as the Sluice transport would (so that Sluice finds nothing to change). */
export const createStream = async (jsm: JetStreamManager, topic: string, replicas: number): Promise<void> => {
  await jsm.streams.add({
    name: streamOf(topic),
    subjects: [topic],
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: DEDUP_WINDOW_NANOS
  })
}

/** A durable pull consumer with explicit acks from the stream's start, server defaults otherwise. */
export const addDurable = async (jsm: JetStreamManager, stream: string, name: string): Promise<void> => {
  await jsm.consumers.add(stream, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All
  })
}

/**
 * Publishes orders `first` to `first + count - 1` with at most `window` confirmations outstanding;
 * `confirmed(n)` is told how many are confirmed. The window is refilled once per burst of confirmations
 * (a microtask after them), so the publishes that refill it go out in one write. Awaiting the oldest
 * promise before each publish instead interleaves them with the confirmations, one write each, and
 * runs at about half the rate.
 */
export const publishWindowed = (
  js: JetStreamClient,
  subject: string,
  first: number,
  count: number,
  window: number,
  confirmed: (count: number) => void = () => {}
): Promise<void> =>
  new Promise((resolve, reject) => {
    let sent = 0
    let done = 0
    let failed = false
    let refillQueued = false
    const refill = (): void => {
      refillQueued = false
      while (!failed && sent < count && sent - done < window) {
        const index = first + sent++
        js.publish(subject, encodeOrder(index), { msgID: nextId() }).then(onAck, onError)
      }
    }
    const onAck = (): void => {
      done++
      confirmed(done)
      if (done === count) resolve()
      else if (!refillQueued) {
        refillQueued = true
        queueMicrotask(refill)
      }
    }
    const onError = (error: unknown): void => {
      failed = true
      reject(error)
    }
    if (count === 0) resolve()
    else refill()
  })

/** Runs `use` with a fresh connection to the target, closed afterwards. */
export const withClient = async <A>(target: Target, use: (client: Client) => Promise<A>): Promise<A> => {
  const client = await connectTo(target)
  try {
    return await use(client)
  } finally {
    await client.nc.close()
  }
}

/** Runs `measure` once per round, each in a turn of its own and with fresh samples; keeps the last round's samples. */
const measureRounds = async (
  params: RunParams,
  turn: Turn,
  measure: (round: number, samples: QuarterSamples) => Promise<Lap>
): Promise<Pick<Run, "rounds" | "samples">> => {
  const rounds: Array<Lap> = []
  let samples = new QuarterSamples(params.messages)
  for (let round = 0; round < params.rounds; round++) {
    samples = new QuarterSamples(params.messages)
    await turn()
    rounds.push(await measure(round, samples))
  }
  return { rounds, samples }
}

export const publishAsync = (target: Target, topic: string, params: RunParams, turn: Turn): Promise<Run> =>
  withClient(target, async ({ js, jsm }) => {
    await createStream(jsm, topic, params.replicas)
    await publishWindowed(js, topic, 0, params.warmup, params.window)
    const measured = await measureRounds(params, turn, async (round, samples) => {
      const watch = new Stopwatch()
      watch.start()
      const first = params.warmup + round * params.messages
      await publishWindowed(js, topic, first, params.messages, params.window, (count) => samples.reached(count))
      return watch.stop()
    })
    return { ...measured, extra: {} }
  })

export const publishSync = (target: Target, topic: string, params: RunParams, turn: Turn): Promise<Run> =>
  withClient(target, async ({ js, jsm }) => {
    await createStream(jsm, topic, params.replicas)
    for (let i = 0; i < params.warmup; i++) await js.publish(topic, encodeOrder(i), { msgID: nextId() })
    const measured = await measureRounds(params, turn, async (round, samples) => {
      const watch = new Stopwatch()
      watch.start()
      const first = params.warmup + round * params.messages
      for (let i = 0; i < params.messages; i++) {
        await js.publish(topic, encodeOrder(first + i), { msgID: nextId() })
        samples.reached(i + 1)
      }
      return watch.stop()
    })
    return { ...measured, extra: {} }
  })

/** Waits (at most 5 s) until the server has every ack; returns the messages still unacknowledged then. */
const unackedAfter = async (jsm: JetStreamManager, stream: string, durable: string): Promise<number> => {
  const deadline = Date.now() + 5000
  for (;;) {
    const pending = (await jsm.consumers.info(stream, durable)).num_ack_pending
    if (pending === 0 || Date.now() > deadline) return pending
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * Consumes the backlog the parent published (`warmup + messages` orders), each round with a durable pull
 * consumer of its own (`natsjs-<round>`): `consume({ max_messages: maxInFlight, callback })`, each message
 * decoded and acked. The callback form: the client calls it for each message as it parses a read from
 * the socket, so the acks of one read go out in one write. Iterating the messages (`for await`) instead
 * ends each message's turn with a write of its ack alone and runs at less than half the rate.
 * The first `warmup` messages of a round are not timed.
 */
export const consume = (target: Target, topic: string, params: RunParams, turn: Turn): Promise<Run> =>
  withClient(target, async ({ js, jsm }) => {
    const stream = streamOf(topic)
    const total = params.warmup + params.messages
    let unacked = 0
    const measured = await measureRounds(params, turn, async (round, samples) => {
      const durable = consumerName(BASELINE, round)
      await addDurable(jsm, stream, durable)
      const consumer = await js.consumers.get(stream, durable)
      let handled = 0
      const watch = new Stopwatch()
      let finish: (lap: Lap) => void = () => {}
      const finished = new Promise<Lap>((resolve) => {
        finish = resolve
      })
      const messages = await consumer.consume({
        max_messages: params.maxInFlight,
        callback: (message) => {
          decodeOrder(message.data)
          message.ack()
          handled++
          if (handled === params.warmup) watch.start()
          else if (handled > params.warmup) samples.reached(handled - params.warmup)
          if (handled === total) finish(watch.stop())
        }
      })
      const ended = messages.closed().then((error) => {
        throw new Error(`nats.js consume ended after ${handled} of ${total} messages: ${error ?? "closed"}`)
      })
      const lap = await Promise.race([finished, ended])
      messages.stop()
      unacked += await unackedAfter(jsm, stream, durable)
      return lap
    })
    return { ...measured, extra: { unacked } }
  })
