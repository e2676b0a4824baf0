/**
 * Runs the cases of a suite, one child process per case, and prints one JSON
 * line per case. A case names the baseline it is compared with; its line then
 * carries the ratios (this case / baseline) the suite computes.
 */
import { fork } from "node:child_process"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"

/** One measurement: a case, run by one implementation with fixed parameters. */
export interface CaseSpec {
  /** The case name, such as `throughput`. */
  readonly case: string
  /** `sluice` or the baseline's name, such as `rxjs`. */
  readonly impl: string
  /** Cases with the same `pair` are compared; the baseline is planned before the case compared with it. */
  readonly pair: string
  /** True for the baseline of its pair. */
  readonly baseline: boolean
  readonly params: Readonly<Record<string, number>>
}

/** What a case reports; the runner adds `case` and `impl`. */
export type CaseResult = Readonly<Record<string, unknown>>

/** What a suite set up in the parent process for its cases, such as a server they run against. */
export interface Prepared {
  /** Variables added to the environment of every case's child process, such as the server's address. */
  readonly env: Readonly<Record<string, string>>
  /** Tears down what was set up; runs after the last case, also when a case failed. */
  close(): Promise<void>
}

/** A suite: what to run, how to run one case, and how to compare a case with its baseline. */
export interface Suite {
  readonly name: string
  plan(): ReadonlyArray<CaseSpec>
  /**
   * Sets up, once in the parent and before the first case, what the selected cases share. Each case
   * still runs in its own child process, so what they share must travel in the environment.
   */
  prepare?(specs: ReadonlyArray<CaseSpec>): Promise<Prepared>
  /** Runs one case in the current process. */
  run(spec: CaseSpec): Promise<CaseResult>
  /** Fields added to a non-baseline line, such as `ratio`. */
  compare(result: CaseResult, baseline: CaseResult): Readonly<Record<string, number>>
}

const mainPath = fileURLToPath(new URL("./main.ts", import.meta.url))

export const log = (text: string): void => {
  process.stderr.write(`${text}\n`)
}

const describe = (spec: CaseSpec): string =>
  `${spec.case} ${spec.impl} ${Object.entries(spec.params)
    .map(([key, value]) => `${key}=${value}`)
    .join(" ")}`

/** `BENCH_CASES=throughput,latency:rxjs` keeps the cases whose `case:impl` contains one of the parts. */
const selected = (spec: CaseSpec): boolean => {
  const filter = process.env.BENCH_CASES
  if (filter === undefined || filter.trim() === "") return true
  const id = `${spec.case}:${spec.impl}`
  return filter.split(",").some((part) => part.trim() !== "" && id.includes(part.trim()))
}

/** Runs one case in a child process; the child sends its result over IPC. */
const runInChild = (suite: Suite, spec: CaseSpec, env: Readonly<Record<string, string>>): Promise<CaseResult> =>
  new Promise((resolve, reject) => {
    // The child inherits this process's flags (so `node --cpu-prof` profiles every case);
    // `--expose-gc` lets it collect the warm-up's garbage before measuring.
    const child = fork(mainPath, [suite.name, "--child", JSON.stringify(spec)], {
      env: { ...process.env, ...env },
      execArgv: [...process.execArgv, "--expose-gc"],
      stdio: ["ignore", "pipe", "inherit", "ipc"]
    })
    // Nothing but result lines may reach stdout: whatever the child prints goes to stderr.
    child.stdout?.pipe(process.stderr)
    let result: CaseResult | undefined
    child.on("message", (message) => {
      result = message as CaseResult
    })
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      if (result !== undefined) resolve(result)
      else reject(new Error(`case "${describe(spec)}" exited with ${signal ?? code} and no result`))
    })
  })

/** Runs every selected case of a suite and prints its JSON lines. */
export const runSuite = async (suite: Suite): Promise<void> => {
  const baselines = new Map<string, CaseResult>()
  const started = performance.now()
  const specs = suite.plan().filter(selected)
  const prepared = await suite.prepare?.(specs)
  try {
    for (const spec of specs) {
      log(`[${suite.name}] ${describe(spec)} ...`)
      // Other processes on the machine skew the numbers: the line says how busy it was.
      const loadAvg1 = Math.round((loadavg()[0] ?? 0) * 100) / 100
      let result: CaseResult
      try {
        result = await runInChild(suite, spec, prepared?.env ?? {})
      } catch (error) {
        // One failed case does not hide the others; the run still fails at the end.
        log(`[${suite.name}] FAILED: ${error instanceof Error ? error.message : String(error)}`)
        process.exitCode = 1
        continue
      }
      const baseline = baselines.get(spec.pair)
      if (spec.baseline) baselines.set(spec.pair, result)
      const comparison = !spec.baseline && baseline !== undefined ? suite.compare(result, baseline) : {}
      process.stdout.write(
        `${JSON.stringify({ case: spec.case, impl: spec.impl, ...result, ...comparison, loadAvg1 })}\n`
      )
    }
  } finally {
    await prepared?.close()
  }
  log(`[${suite.name}] done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

/** The child side: runs one case and sends its result to the parent (or prints it when run by hand). */
export const runChild = async (suite: Suite, specJson: string): Promise<void> => {
  const spec = JSON.parse(specJson) as CaseSpec
  const result = await suite.run(spec)
  const send = process.send?.bind(process)
  if (send === undefined) {
    process.stdout.write(`${JSON.stringify({ case: spec.case, impl: spec.impl, ...result })}\n`)
    process.exit(0)
  }
  // Exit once the result is out: a case may leave timers or fibers behind.
  send(result, undefined, {}, () => process.exit(0))
}
