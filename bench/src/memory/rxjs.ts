/**
 * The baseline: the same orders through a plain RxJS pipeline (Subject →
 * encode with the schema and JSON → decode from JSON with the schema →
 * concatMap / mergeMap handler → count). No broker: no storage, no ack, no
 * redelivery; everything runs synchronously inside `subject.next`.
 */
import * as Schema from "effect/Schema"
import { concatMap, map, mergeMap, type Observable, of, Subject } from "rxjs"
import { Latencies, QuarterSamples } from "../stats.ts"
import { dueAt, makeOrder, makeTimedOrder, Order, TimedOrder } from "./order.ts"
import type { LatencyParams, ThroughputParams } from "./params.ts"
import type { LatencyRun, ThroughputRun } from "./sluice.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/** Encoding and decoding as Sluice's JSON codec does it: schema, JSON text, UTF-8 bytes. */
const codec = <A, I>(schema: Schema.Codec<A, I>) => {
  const encodeValue = Schema.encodeSync(schema)
  const decodeValue = Schema.decodeUnknownSync(schema)
  return {
    encode: (value: A): Uint8Array => encoder.encode(JSON.stringify(encodeValue(value))),
    decode: (bytes: Uint8Array): A => decodeValue(JSON.parse(decoder.decode(bytes)))
  }
}

const handleWith =
  (concurrency: number) =>
  <A>(handler: (value: A) => Observable<unknown>) =>
    concurrency === 1 ? concatMap(handler) : mergeMap(handler, concurrency)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const throughput = async (params: ThroughputParams): Promise<ThroughputRun> => {
  const { encode, decode } = codec(Order)
  const samples = new QuarterSamples(params.messages)
  const subject = new Subject<Order>()
  let handled = 0
  const completed = new Promise<void>((resolve, reject) => {
    subject
      .pipe(
        map(encode),
        map(decode),
        handleWith(params.concurrency)((order: Order) => {
          handled++
          samples.reached(handled)
          return of(order)
        })
      )
      .subscribe({ complete: resolve, error: reject })
  })

  const started = performance.now()
  let sent = 0
  while (sent < params.messages) {
    const size = Math.min(params.batch, params.messages - sent)
    const values: Array<Order> = new Array(size)
    for (let i = 0; i < size; i++) values[i] = makeOrder(sent + i)
    for (const value of values) subject.next(value)
    sent += size
  }
  subject.complete()
  await completed
  const elapsedMs = performance.now() - started
  if (handled !== params.messages) throw new Error(`rxjs handled ${handled} of ${params.messages}`)
  return { elapsedMs, samples, missed: 0, waits: 0, stored: 0 }
}

export const latency = async (params: LatencyParams): Promise<LatencyRun> => {
  const { encode, decode } = codec(TimedOrder)
  const total = Math.max(1, Math.round(params.rate * params.seconds))
  const latencies = new Latencies(total)
  const subject = new Subject<TimedOrder>()
  const completed = new Promise<void>((resolve, reject) => {
    subject
      .pipe(
        map(encode),
        map(decode),
        handleWith(params.concurrency)((order: TimedOrder) => {
          latencies.record(performance.now() - order.sentAt)
          return of(order)
        })
      )
      .subscribe({ complete: resolve, error: reject })
  })

  const started = performance.now()
  let sent = 0
  while (sent < total) {
    const due = dueAt(performance.now() - started, params.rate, total)
    while (sent < due) subject.next(makeTimedOrder(sent++))
    if (sent < total) await sleep(1)
  }
  subject.complete()
  await completed
  return { elapsedMs: performance.now() - started, handled: latencies.count, latencies }
}
