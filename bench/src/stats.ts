/** Small measurement helpers shared by the suites. */

const MB = 1024 * 1024

/** Rounds to `digits` decimals. */
export const round = (value: number, digits = 1): number => {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

/** The median; of an even count, the mean of the middle two. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2
}

/** Messages per second, rounded to a whole number. */
export const rate = (count: number, elapsedMs: number): number => round((count * 1000) / elapsedMs, 0)

/** Peak resident set size of this process so far, in MB. */
export const peakRssMB = (): number => round((process.resourceUsage().maxRSS * 1024) / MB)

/** Collects the garbage when the process runs with `--expose-gc`, so a case starts from a clean heap. */
export const collectGarbage = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
}

/**
 * Memory at 25, 50, 75 and 100 % of a run: `reached(count)` is cheap to call
 * for every message and samples only when a quarter is crossed. With
 * `BENCH_GC_SAMPLES=1` (and `--expose-gc`, which the runner passes) the
 * garbage is collected before each sample, so the heap figures are what is
 * live; this slows the run down, so use it to look for leaks, not for speed.
 */
export class QuarterSamples {
  readonly collect = process.env.BENCH_GC_SAMPLES === "1"
  readonly rssMB: Record<string, number> = {}
  readonly heapUsedMB: Record<string, number> = {}
  private readonly total: number
  private next: number
  private quarter = 1

  constructor(total: number) {
    this.total = total
    this.next = Math.ceil(total / 4)
  }

  reached(count: number): void {
    if (count < this.next) return
    if (this.collect) collectGarbage()
    const usage = process.memoryUsage()
    const label = String(this.quarter * 25)
    this.rssMB[label] = round(usage.rss / MB)
    this.heapUsedMB[label] = round(usage.heapUsed / MB)
    this.quarter++
    this.next = this.quarter > 4 ? Number.POSITIVE_INFINITY : Math.ceil((this.total * this.quarter) / 4)
  }
}

/** What a {@link Stopwatch} measured. */
export interface Lap {
  readonly elapsedMs: number
  /** CPU time of this process (user and system, all threads), in milliseconds. */
  readonly cpuMs: number
}

/**
 * Wall-clock and CPU time from `start()` to `stop()`. The CPU time per message tells what the client costs
 * even when other processes (a broker on the same machine, other work) take the CPU and lower the rate.
 */
export class Stopwatch {
  private startedAt = 0
  private cpuAtStart: NodeJS.CpuUsage | undefined

  start(): void {
    this.startedAt = performance.now()
    this.cpuAtStart = process.cpuUsage()
  }

  stop(): Lap {
    const cpu = process.cpuUsage(this.cpuAtStart)
    return { elapsedMs: performance.now() - this.startedAt, cpuMs: (cpu.user + cpu.system) / 1000 }
  }
}

/** Latencies in milliseconds, recorded into a preallocated array. */
export class Latencies {
  private readonly values: Float64Array
  count = 0

  constructor(capacity: number) {
    this.values = new Float64Array(capacity)
  }

  record(ms: number): void {
    if (this.count < this.values.length) this.values[this.count] = ms
    this.count++
  }

  /** p50, p99, p99.9 and max, in milliseconds. */
  summary(): { p50Ms: number; p99Ms: number; p999Ms: number; maxMs: number } {
    const sorted = this.values.slice(0, Math.min(this.count, this.values.length)).sort()
    const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN, 3)
    return { p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: round(sorted.at(-1) ?? Number.NaN, 3) }
  }
}

/** Reads a positive integer from the environment, or `fallback`. */
export const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return fallback
  const value = Number(raw.replaceAll("_", ""))
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`)
  return value
}

/** Measured rounds of a case (`BENCH_ROUNDS`, else the suite's default), run one after the other in its process: its line reports the median. */
export const rounds = (suiteDefault = 3): number => envInt("BENCH_ROUNDS", suiteDefault)
