/**
 * The nats suite through Sluice: a Bus over `NatsTransport.make` per run, as
 * users run it. Publishing uses `publishAll` in batches of the window (the
 * Bus's API for many values), or `publish` one at a time; consuming uses
 * `bus.consume` with a group and a trivial handler.
 */
import { Bus, Topic } from "@sluice/core"
import { NatsTransport } from "@sluice/transport-nats"
import { Deferred, Effect } from "effect"
import type { Turn } from "../runner.ts"
import { type Lap, QuarterSamples, Stopwatch } from "../stats.ts"
import { makeOrder, Order } from "./order.ts"
import { consumerName, type Run, type RunParams } from "./params.ts"
import type { Target } from "./target.ts"

/** A Bus on a fresh connection to the target, for the scope; the topic with the case's replicas. */
const setUp = (target: Target, name: string, params: RunParams) =>
  Effect.map(
    NatsTransport.make({
      servers: target.servers,
      ...(target.user === undefined ? {} : { user: target.user }),
      ...(target.pass === undefined ? {} : { pass: target.pass }),
      // On the cluster, the first node for both implementations (see raw.ts).
      connectionOptions: { noRandomize: true }
    }),
    (transport) => ({
      bus: Bus.make(transport),
      topic: Topic.make({ name, schema: Order, replicas: params.replicas })
    })
  )

/** Runs `measure` once per round, each in a turn of its own and with fresh samples; keeps the last round's samples. */
const measureRounds = <E, R>(
  params: RunParams,
  turn: Turn,
  measure: (round: number, samples: QuarterSamples) => Effect.Effect<Lap, E, R>
) =>
  Effect.gen(function* () {
    const rounds: Array<Lap> = []
    let samples = new QuarterSamples(params.messages)
    for (let round = 0; round < params.rounds; round++) {
      samples = new QuarterSamples(params.messages)
      yield* Effect.promise(turn)
      rounds.push(yield* measure(round, samples))
    }
    return { rounds, samples }
  })

const orders = (first: number, count: number): Array<Order> => {
  const values: Array<Order> = new Array(count)
  for (let i = 0; i < count; i++) values[i] = makeOrder(first + i)
  return values
}

export const publishAsync = (target: Target, name: string, params: RunParams, turn: Turn): Promise<Run> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const { bus, topic } = yield* setUp(target, name, params)
        const publishRange = (first: number, count: number, confirmed: (count: number) => void) =>
          Effect.gen(function* () {
            for (let sent = 0; sent < count; ) {
              const size = Math.min(params.window, count - sent)
              yield* bus.publishAll(topic, orders(first + sent, size))
              sent += size
              confirmed(sent)
            }
          })
        yield* publishRange(0, params.warmup, () => {})
        const measured = yield* measureRounds(params, turn, (round, samples) =>
          Effect.gen(function* () {
            const watch = new Stopwatch()
            watch.start()
            const first = params.warmup + round * params.messages
            yield* publishRange(first, params.messages, (count) => samples.reached(count))
            return watch.stop()
          })
        )
        return { ...measured, extra: {} }
      })
    )
  )

export const publishSync = (target: Target, name: string, params: RunParams, turn: Turn): Promise<Run> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const { bus, topic } = yield* setUp(target, name, params)
        for (let i = 0; i < params.warmup; i++) yield* bus.publish(topic, makeOrder(i))
        const measured = yield* measureRounds(params, turn, (round, samples) =>
          Effect.gen(function* () {
            const watch = new Stopwatch()
            watch.start()
            const first = params.warmup + round * params.messages
            for (let i = 0; i < params.messages; i++) {
              yield* bus.publish(topic, makeOrder(first + i))
              samples.reached(i + 1)
            }
            return watch.stop()
          })
        )
        return { ...measured, extra: {} }
      })
    )
  )

/**
 * Consumes the backlog the parent published (`warmup + messages` orders), each round with `bus.consume` in
 * a group of its own (`sluice-<round>`); the handler only counts. The first `warmup` messages of a round
 * are not timed.
 */
export const consume = (target: Target, name: string, params: RunParams, turn: Turn): Promise<Run> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const { bus, topic } = yield* setUp(target, name, params)
        const total = params.warmup + params.messages
        let unacked = 0
        const measured = yield* measureRounds(params, turn, (round, samples) =>
          Effect.scoped(
            Effect.gen(function* () {
              const group = consumerName("sluice", round)
              const allHandled = yield* Deferred.make<void>()
              let handled = 0
              const watch = new Stopwatch()
              let lap: Lap | undefined
              const consumer = yield* bus.consume(topic, { group, maxInFlight: params.maxInFlight }, () =>
                Effect.sync(() => {
                  handled++
                  if (handled === params.warmup) watch.start()
                  else if (handled > params.warmup) samples.reached(handled - params.warmup)
                  if (handled === total) {
                    lap = watch.stop()
                    Deferred.doneUnsafe(allHandled, Effect.void)
                  }
                })
              )
              yield* Deferred.await(allHandled)
              // The acks are sent when the handler returns: wait (at most 5 s) until the server has them all.
              const deadline = Date.now() + 5000
              let lag = yield* bus.lag(topic, group)
              while (lag.inFlight > 0 && Date.now() < deadline) {
                yield* Effect.sleep(50)
                lag = yield* bus.lag(topic, group)
              }
              yield* consumer.stop
              if (lap === undefined || handled !== total) throw new Error(`sluice handled ${handled} of ${total}`)
              unacked += lag.inFlight
              return lap
            })
          )
        )
        return { ...measured, extra: { unacked } }
      })
    )
  )
