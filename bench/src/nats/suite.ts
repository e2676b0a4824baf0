/**
 * The nats suite: Sluice's NATS JetStream transport, through the Bus, beside
 * the raw `@nats-io/*` client doing the same work, on the same server in the
 * same run:
 * - `publish-async`, `publish-sync`: publishes with confirmation, a window of
 *   them in flight or one at a time;
 * - `consume-backlog`: a backlog consumed with explicit acks;
 * - `cluster-publish-async`, `cluster-consume-backlog`: the same on a 3-node
 *   cluster with 3 replicas;
 * - `drain-memory`: a large backlog consumed, memory along the way.
 */
import { type CaseResult, type CaseSpec, log, type Suite, type Turn } from "../runner.ts"
import { median, peakRssMB, rate, round } from "../stats.ts"
import { payloadBytes } from "./order.ts"
import * as params from "./params.ts"
import type * as rawModule from "./raw.ts"
import { runOf, targetOf, topicOf } from "./target.ts"

type Impl = Pick<typeof rawModule, "publishAsync" | "publishSync" | "consume">

/** Loads only the implementation measured, so that a baseline's process does not load Sluice. */
const load = (impl: string): Promise<Impl> => (impl === "sluice" ? import("./sluice.ts") : import("./raw.ts"))

const MB = 1024 * 1024

const plan = (): ReadonlyArray<CaseSpec> =>
  params.CASES.flatMap((def) => {
    const messages = def.messages()
    const shared = {
      messages,
      rounds: params.roundsOf(def),
      warmup: params.warmupOf(messages),
      replicas: params.replicasOf(def)
    }
    const specific =
      def.kind === "consume"
        ? { maxInFlight: params.maxInFlight() }
        : def.kind === "publish-async"
          ? { window: params.publishWindow() }
          : {}
    const spec = { case: def.name, pair: def.name, params: { ...shared, ...specific } }
    return [
      { ...spec, impl: params.BASELINE, baseline: true },
      { ...spec, impl: "sluice", baseline: false }
    ]
  })

const runParams = (spec: CaseSpec, def: params.CaseDef): params.RunParams => {
  const messages = spec.params.messages ?? def.messages()
  return {
    messages,
    rounds: spec.params.rounds ?? params.roundsOf(def),
    warmup: spec.params.warmup ?? params.warmupOf(messages),
    replicas: spec.params.replicas ?? params.replicasOf(def),
    window: spec.params.window ?? params.publishWindow(),
    maxInFlight: spec.params.maxInFlight ?? params.maxInFlight()
  }
}

/** Ends the child when a case hangs (a consumer that never gets its last message), so that the run goes on. */
const exitAfter = (seconds: number, what: string): void => {
  setTimeout(() => {
    log(`  ${what}: no result after ${seconds} s (BENCH_CASE_TIMEOUT), giving up`)
    process.exit(1)
  }, seconds * 1000).unref()
}

const run = async (spec: CaseSpec, turn: Turn): Promise<CaseResult> => {
  const def = params.caseDef(spec.case)
  exitAfter(params.caseTimeoutSeconds(), `${spec.case} ${spec.impl}`)
  // The first turn: loading the code, placing the consumers and warming up are work too.
  await turn()
  const impl = await load(spec.impl)
  const startRssMB = round(process.memoryUsage.rss() / MB)
  const p = runParams(spec, def)
  const target = targetOf(def.cluster)
  // A consume case reads the backlog the parent published; a publish case writes a topic of its own.
  const topic = topicOf(runOf(), def.name, def.kind === "consume" ? undefined : spec.impl)
  const consumers =
    def.kind === "consume" ? Array.from({ length: p.rounds }, (_, round) => params.consumerName(spec.impl, round)) : []
  if (def.cluster) await (await import("./placement.ts")).pin(target, topic, p.replicas, consumers)
  const measured =
    def.kind === "publish-async"
      ? await impl.publishAsync(target, topic, p, turn)
      : def.kind === "publish-sync"
        ? await impl.publishSync(target, topic, p, turn)
        : await impl.consume(target, topic, p, turn)
  const rounds = measured.rounds.map((lap) => rate(p.messages, lap.elapsedMs))
  const msgsPerSec = round(median(rounds), 0)
  const cpuUsPerMsg = round(median(measured.rounds.map((lap) => (lap.cpuMs * 1000) / p.messages)), 1)
  log(`  ${spec.impl}: ${msgsPerSec} msgs/s (rounds: ${rounds.join(", ")}), ${cpuUsPerMsg} µs of CPU per message`)
  const placement = def.cluster ? await (await import("./placement.ts")).placementOf(target, topic, consumers) : {}
  return {
    msgsPerSec,
    cpuUsPerMsg,
    peakRssMB: peakRssMB(),
    startRssMB,
    rssMBAt: measured.samples.rssMB,
    heapUsedMBAt: measured.samples.heapUsedMB,
    roundsMsgsPerSec: rounds,
    ...spec.params,
    payloadBytes: payloadBytes(p.warmup + p.messages - 1),
    ...measured.extra,
    ...placement
  }
}

const ratio = (a: unknown, b: unknown): number =>
  typeof a === "number" && typeof b === "number" && b > 0 ? round(a / b, 3) : Number.NaN

export const suite: Suite = {
  name: "nats",
  plan,
  prepare: async (specs) => (await import("./setup.ts")).prepare(specs.map((spec) => spec.case)),
  run,
  compare: (result, baseline) => ({
    ratio: ratio(result.msgsPerSec, baseline.msgsPerSec),
    cpuRatio: ratio(result.cpuUsPerMsg, baseline.cpuUsPerMsg)
  })
}
