/**
 * The memory suite: Sluice on the embedded broker beside an RxJS baseline.
 * - `throughput`: N small messages published in batches and consumed with a
 *   group (concurrency 1 and 16), msgs/s and memory along the way;
 * - `interest`: the same flow on a topic without limits and with interest
 *   retention, for memory (`sluice`), beside the same topic with the default
 *   retention, which keeps every message (`sluice-limits`);
 * - `latency`: one message at a time at a fixed rate, publish-to-handler p50/p99.
 */
import { type CaseResult, type CaseSpec, log, type Suite, type Turn } from "../runner.ts"
import { collectGarbage, median, peakRssMB, rate, round, rounds } from "../stats.ts"
import { payloadBytes, timedPayloadBytes } from "./order.ts"
import * as params from "./params.ts"
import type * as sluiceModule from "./sluice.ts"
import type { ThroughputRun } from "./sluice.ts"

type Impl = Pick<typeof sluiceModule, "throughput" | "latency">

/** Loads only the implementation measured, so that a baseline's process does not load Sluice. */
const load = (impl: string): Promise<Impl> => (impl.startsWith("sluice") ? import("./sluice.ts") : import("./rxjs.ts"))

const MB = 1024 * 1024

const CONCURRENCIES = [1, 16] as const
const BASELINE = "rxjs"

/** The retention of an `interest` case's topic: interest for `sluice`, the default for `sluice-limits`. */
const retentionOf = (spec: CaseSpec): "limits" | "interest" | undefined =>
  spec.case !== "interest" ? undefined : spec.impl === "sluice" ? "interest" : "limits"

const throughputParams = (spec: CaseSpec): params.ThroughputParams => {
  const retention = retentionOf(spec)
  return {
    messages: spec.params.messages ?? params.messages(),
    batch: spec.params.batch ?? params.batch(),
    concurrency: spec.params.concurrency ?? 1,
    maxInFlight: spec.params.maxInFlight ?? params.maxInFlight(),
    maxPending: spec.params.maxPending ?? params.maxPending(),
    maxMessages: spec.params.maxMessages ?? params.maxMessages(),
    ...(retention === undefined ? {} : { retention })
  }
}

const latencyParams = (spec: CaseSpec): params.LatencyParams => ({
  rate: spec.params.rate ?? params.latencyRate(),
  seconds: spec.params.seconds ?? params.latencySeconds(),
  concurrency: spec.params.concurrency ?? 1,
  maxInFlight: spec.params.maxInFlight ?? params.maxInFlight(),
  maxMessages: spec.params.maxMessages ?? params.maxMessages()
})

const plan = (): ReadonlyArray<CaseSpec> => {
  const messages = params.messages()
  const batch = params.batch()
  const broker = {
    maxInFlight: params.maxInFlight(),
    maxPending: params.maxPending(),
    maxMessages: params.maxMessages()
  }
  const specs: Array<CaseSpec> = []
  for (const concurrency of CONCURRENCIES) {
    const pair = `throughput/${concurrency}`
    specs.push(
      { case: "throughput", impl: BASELINE, pair, baseline: true, params: { messages, batch, concurrency } },
      { case: "throughput", impl: "sluice", pair, baseline: false, params: { messages, batch, concurrency, ...broker } }
    )
  }
  // The same flow on a topic without limits: with interest retention, and with the default, which keeps all.
  const unlimited = { ...broker, maxMessages: 0 }
  specs.push(
    { case: "interest", impl: BASELINE, pair: "interest", baseline: true, params: { messages, batch, concurrency: 1 } },
    {
      case: "interest",
      impl: "sluice",
      pair: "interest",
      baseline: false,
      params: { messages, batch, concurrency: 1, ...unlimited }
    },
    {
      case: "interest",
      impl: "sluice-limits",
      pair: "interest",
      baseline: false,
      params: { messages, batch, concurrency: 1, ...unlimited }
    }
  )
  const rate = params.latencyRate()
  const seconds = params.latencySeconds()
  specs.push(
    { case: "latency", impl: BASELINE, pair: "latency", baseline: true, params: { rate, seconds, concurrency: 1 } },
    {
      case: "latency",
      impl: "sluice",
      pair: "latency",
      baseline: false,
      params: {
        rate,
        seconds,
        concurrency: 1,
        maxInFlight: broker.maxInFlight,
        maxMessages: broker.maxMessages
      }
    }
  )
  return specs
}

const runThroughput = async (spec: CaseSpec, turn: Turn): Promise<CaseResult> => {
  await turn()
  const impl = await load(spec.impl)
  const startRssMB = round(process.memoryUsage.rss() / MB)
  const p = throughputParams(spec)
  await impl.throughput(params.warmupOf(p))
  const runs: Array<ThroughputRun> = []
  for (let i = 0; i < rounds(); i++) {
    await turn()
    collectGarbage()
    runs.push(await impl.throughput(p))
  }
  const rates = runs.map((run) => rate(p.messages, run.elapsedMs))
  const msgsPerSec = round(median(rates), 0)
  const last = runs[runs.length - 1] as ThroughputRun
  log(`  ${spec.impl} c=${p.concurrency}: ${msgsPerSec} msgs/s (rounds: ${rates.join(", ")})`)
  return {
    msgsPerSec,
    roundsMsgsPerSec: rates,
    peakRssMB: peakRssMB(),
    startRssMB,
    rssMBAt: last.samples.rssMB,
    heapUsedMBAt: last.samples.heapUsedMB,
    ...spec.params,
    rounds: runs.length,
    payloadBytes: payloadBytes(p.messages - 1),
    ...(spec.impl.startsWith("sluice")
      ? {
          missed: runs.reduce((sum, run) => sum + run.missed, 0),
          producerWaits: runs.reduce((sum, run) => sum + run.waits, 0),
          retention: p.retention ?? "limits",
          storedAtEnd: last.stored
        }
      : {})
  }
}

const runLatency = async (spec: CaseSpec, turn: Turn): Promise<CaseResult> => {
  await turn()
  const impl = await load(spec.impl)
  const startRssMB = round(process.memoryUsage.rss() / MB)
  const p = latencyParams(spec)
  await impl.latency(params.latencyWarmupOf(p))
  await turn()
  collectGarbage()
  const run = await impl.latency(p)
  const summary = run.latencies.summary()
  log(`  ${spec.impl}: p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms`)
  return {
    msgsPerSec: rate(run.handled, run.elapsedMs),
    ...summary,
    peakRssMB: peakRssMB(),
    startRssMB,
    messages: run.handled,
    ...spec.params,
    payloadBytes: timedPayloadBytes(run.handled - 1)
  }
}

const ratio = (a: unknown, b: unknown): number =>
  typeof a === "number" && typeof b === "number" && b > 0 ? round(a / b, 3) : Number.NaN

export const suite: Suite = {
  name: "memory",
  plan,
  run: (spec, turn) => {
    switch (spec.case) {
      case "throughput":
      case "interest":
        return runThroughput(spec, turn)
      case "latency":
        return runLatency(spec, turn)
      default:
        return Promise.reject(new Error(`unknown case ${spec.case}`))
    }
  },
  compare: (result, baseline) =>
    result.p99Ms === undefined
      ? { ratio: ratio(result.msgsPerSec, baseline.msgsPerSec) }
      : {
          ratio: ratio(result.msgsPerSec, baseline.msgsPerSec),
          p50Ratio: ratio(result.p50Ms, baseline.p50Ms),
          p99Ratio: ratio(result.p99Ms, baseline.p99Ms)
        }
}
