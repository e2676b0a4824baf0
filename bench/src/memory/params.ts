/** Parameters of the memory suite, from the environment with defaults. */
import { envInt } from "../stats.ts"

export interface ThroughputParams {
  /** Messages measured. */
  readonly messages: number
  /** Messages per `publishAll`. */
  readonly batch: number
  /** Handlers running at once. */
  readonly concurrency: number
  /** Sluice: most unsettled deliveries of the consumer. */
  readonly maxInFlight: number
  /** Sluice: the producer waits while the group has more pending messages than this. */
  readonly maxPending: number
  /** Sluice: the topic keeps at most this many messages; 0 for no limit. */
  readonly maxMessages: number
  /** Sluice: the topic's retention; `"limits"` when absent. */
  readonly retention?: "limits" | "interest"
}

export interface LatencyParams {
  /** Messages published per second, one at a time. */
  readonly rate: number
  /** Length of the measured run, in seconds. */
  readonly seconds: number
  readonly concurrency: number
  readonly maxInFlight: number
  readonly maxMessages: number
}

export const messages = (): number => envInt("BENCH_MESSAGES", 1_000_000)
export const batch = (): number => envInt("BENCH_BATCH", 1000)
export const maxInFlight = (): number => envInt("BENCH_MAX_IN_FLIGHT", 1000)
export const maxPending = (): number => envInt("BENCH_MAX_PENDING", 50_000)
export const maxMessages = (): number => envInt("BENCH_MAX_MESSAGES", 100_000)
export const latencyRate = (): number => envInt("BENCH_LATENCY_RATE", 20_000)
export const latencySeconds = (): number => envInt("BENCH_LATENCY_SECONDS", 3)

/** The warm-up before a throughput run: a tenth of it, at most 50,000 messages. */
export const warmupOf = (params: ThroughputParams): ThroughputParams => ({
  ...params,
  messages: Math.max(1, Math.min(50_000, Math.floor(params.messages / 10)))
})

/** The warm-up before a latency run: half a second. */
export const latencyWarmupOf = (params: LatencyParams): LatencyParams => ({ ...params, seconds: 0.5 })
