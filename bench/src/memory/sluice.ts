/**
 * The memory suite through Sluice: a Bus on a fresh MemoryTransport per run,
 * `publishAll` / `publish` on one side, `consume` with a group on the other.
 */
import { Bus, MemoryTransport, Topic } from "@sluice/core"
import { Deferred, Effect } from "effect"
import { Latencies, QuarterSamples } from "../stats.ts"
import { dueAt, makeOrder, makeTimedOrder, Order, TimedOrder } from "./order.ts"
import type { LatencyParams, ThroughputParams } from "./params.ts"

const GROUP = "bench"

export interface ThroughputRun {
  readonly elapsedMs: number
  readonly samples: QuarterSamples
  /** Messages the group never received because retention dropped them; 0 when the producer is paced right. */
  readonly missed: number
  /** Times the producer waited for the consumer to catch up. */
  readonly waits: number
  /** Messages the topic still held once every message was handled. */
  readonly stored: number
}

/**
 * Publishes `messages` orders in batches while a consumer handles them, pacing
 * the producer by the group's lag; ends when every message was handled.
 */
export const throughput = (params: ThroughputParams): Promise<ThroughputRun> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const transport = yield* MemoryTransport.make()
        const bus = Bus.make(transport)
        const topic = Topic.make({
          name: "bench.orders",
          schema: Order,
          ...(params.maxMessages > 0 ? { maxMessages: params.maxMessages } : {}),
          ...(params.retention === undefined ? {} : { retention: params.retention })
        })
        const samples = new QuarterSamples(params.messages)
        const allHandled = yield* Deferred.make<void>()
        let handled = 0
        const consumer = yield* bus.consume(
          topic,
          { group: GROUP, maxInFlight: params.maxInFlight, concurrency: params.concurrency },
          () =>
            Effect.sync(() => {
              handled++
              samples.reached(handled)
              if (handled === params.messages) Deferred.doneUnsafe(allHandled, Effect.void)
            })
        )

        const started = performance.now()
        let sent = 0
        let waits = 0
        while (sent < params.messages) {
          const size = Math.min(params.batch, params.messages - sent)
          const values: Array<Order> = new Array(size)
          for (let i = 0; i < size; i++) values[i] = makeOrder(sent + i)
          yield* bus.publishAll(topic, values)
          sent += size
          while ((yield* bus.lag(topic, GROUP)).pending > params.maxPending) {
            waits++
            yield* Effect.sleep(1)
          }
        }
        yield* Deferred.await(allHandled)
        const elapsedMs = performance.now() - started
        const lag = yield* bus.lag(topic, GROUP)
        yield* consumer.stop
        const { messages: stored } = yield* bus.topicInfo(topic)
        return { elapsedMs, samples, missed: lag.missed ?? 0, waits, stored }
      })
    )
  )

export interface LatencyRun {
  readonly elapsedMs: number
  readonly handled: number
  readonly latencies: Latencies
}

/**
 * Publishes one order at a time at a fixed rate (a 1 ms timer, and the orders
 * due by then, each published on its own and followed by a yield), each
 * carrying the `performance.now()` of its publication; the handler records
 * how long it took to arrive.
 */
export const latency = (params: LatencyParams): Promise<LatencyRun> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const transport = yield* MemoryTransport.make()
        const bus = Bus.make(transport)
        const topic = Topic.make({
          name: "bench.timed-orders",
          schema: TimedOrder,
          maxMessages: params.maxMessages
        })
        const total = Math.max(1, Math.round(params.rate * params.seconds))
        const latencies = new Latencies(total)
        const allHandled = yield* Deferred.make<void>()
        const consumer = yield* bus.consume(
          topic,
          { group: GROUP, maxInFlight: params.maxInFlight, concurrency: params.concurrency },
          (message) =>
            Effect.sync(() => {
              latencies.record(performance.now() - message.payload.sentAt)
              if (latencies.count === total) Deferred.doneUnsafe(allHandled, Effect.void)
            })
        )

        const started = performance.now()
        let sent = 0
        while (sent < total) {
          const due = dueAt(performance.now() - started, params.rate, total)
          while (sent < due) {
            yield* bus.publish(topic, makeTimedOrder(sent))
            sent++
            yield* Effect.yieldNow
          }
          if (sent < total) yield* Effect.sleep(1)
        }
        yield* Deferred.await(allHandled)
        const elapsedMs = performance.now() - started
        yield* consumer.stop
        return { elapsedMs, handled: latencies.count, latencies }
      })
    )
  )
