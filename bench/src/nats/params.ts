/** Parameters of the nats suite, from the environment with defaults, and what a measured run returns. */
import { envInt, type Lap, type QuarterSamples, rounds } from "../stats.ts"

/** The baseline's name in the lines. */
export const BASELINE = "nats.js"

/** The durable consumer (for Sluice, the group) of an implementation's round of a consume case. */
export const consumerName = (impl: string, round: number): string =>
  `${impl === BASELINE ? "natsjs" : impl}-${round + 1}`

/** What a case does, whichever implementation runs it. */
type Kind = "publish-async" | "publish-sync" | "consume"

export interface CaseDef {
  readonly name: string
  readonly kind: Kind
  /** Runs against the 3-node cluster, with 3 replicas, instead of the single server. */
  readonly cluster: boolean
  /** Messages measured. */
  readonly messages: () => number
}

const publishMessages = (): number => envInt("BENCH_PUBLISH_MESSAGES", 100_000)
const syncMessages = (): number => envInt("BENCH_SYNC_MESSAGES", 20_000)
const backlogMessages = (): number => envInt("BENCH_BACKLOG_MESSAGES", 200_000)
const clusterMessages = (): number => envInt("BENCH_CLUSTER_MESSAGES", 50_000)
const drainMessages = (): number => envInt("BENCH_DRAIN_MESSAGES", 1_000_000)
export const publishWindow = (): number => envInt("BENCH_WINDOW", 1000)
export const maxInFlight = (): number => envInt("BENCH_MAX_IN_FLIGHT", 1000)
export const caseTimeoutSeconds = (): number => envInt("BENCH_CASE_TIMEOUT", 300)

/** The cases, in the order they run. */
export const CASES: ReadonlyArray<CaseDef> = [
  { name: "publish-async", kind: "publish-async", cluster: false, messages: publishMessages },
  { name: "publish-sync", kind: "publish-sync", cluster: false, messages: syncMessages },
  { name: "consume-backlog", kind: "consume", cluster: false, messages: backlogMessages },
  { name: "cluster-publish-async", kind: "publish-async", cluster: true, messages: clusterMessages },
  { name: "cluster-consume-backlog", kind: "consume", cluster: true, messages: clusterMessages },
  { name: "drain-memory", kind: "consume", cluster: false, messages: drainMessages }
]

export const caseDef = (name: string): CaseDef => {
  const def = CASES.find((candidate) => candidate.name === name)
  if (def === undefined) throw new Error(`unknown case ${name}`)
  return def
}

/** Copies of each stream: 3 on the cluster, so that a publish waits for a quorum of 2. */
export const replicasOf = (def: CaseDef): number => (def.cluster ? 3 : 1)

/**
 * Messages handled before the measurement starts, in the same run: a tenth, at most 20,000. A publish
 * case publishes them first to the same topic; a consume case finds them at the head of its backlog.
 */
export const warmupOf = (messages: number): number => Math.max(1, Math.min(20_000, Math.floor(messages / 10)))

/**
 * Measured rounds of a case, each child running them one after the other: the line reports the median.
 * Five for a publish case: a round lasts two to four seconds, and this machine's speed varies by a fifth
 * from round to round. Nine for `consume-backlog` and its cluster variant: their rounds last one to two
 * seconds, and on the cluster one round may run at half the rate of the next (38,000 to 77,000 messages
 * a second in one run), so that the median of five moved by a tenth on drift alone. `drain-memory` runs
 * three, of about ten seconds each: its memory is that of the last, and a single round's rate crossed the
 * machine's drift (0.87 to 1.04 in four runs).
 */
export const roundsOf = (def: CaseDef): number =>
  rounds(def.name === "drain-memory" ? 3 : def.kind === "consume" ? 9 : 5)

/** What one implementation reports of its measured rounds. */
export interface Run {
  /**
   * Each round's times, from the first measured message sent (publish) or handled (consume) to the last
   * confirmed or handled.
   */
  readonly rounds: ReadonlyArray<Lap>
  /** Memory along the last round. */
  readonly samples: QuarterSamples
  /** Further fields for the line. */
  readonly extra: Readonly<Record<string, unknown>>
}

/** The parameters of one run, as the case spec carries them. */
export interface RunParams {
  /** Messages measured in each round. */
  readonly messages: number
  readonly rounds: number
  readonly warmup: number
  readonly replicas: number
  /** Publishes in flight (`publish-async`). */
  readonly window: number
  /** Unsettled messages a consumer holds at most (`consume`). */
  readonly maxInFlight: number
}
