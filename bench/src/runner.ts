/**
 * Runs the cases of a suite, one child process per case, and prints one JSON
 * line per case. A case names the baseline it is compared with; its line then
 * carries the ratios (this case / baseline) the suite computes. The cases of a
 * pair run at the same time and take turns (see turns.ts).
 */
import { type ChildProcess, fork } from "node:child_process"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { Turns } from "./turns.ts"

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
  /** Runs one case in the current process, calling `turn` before each piece of measured work. */
  run(spec: CaseSpec, turn: Turn): Promise<CaseResult>
  /** Fields added to a non-baseline line, such as `ratio`. */
  compare(result: CaseResult, baseline: CaseResult): Readonly<Record<string, number>>
}

/**
 * Waits until the case may do its next piece of measured work (load its code, warm up, run a round):
 * the cases of a pair take turns, so that one does not run while the other measures. The turn lasts
 * until the next call or the end of the case.
 */
export type Turn = () => Promise<void>

/** What a child sends its parent: a request for its next turn, or its result. */
type ChildMessage = { readonly kind: "turn" } | { readonly kind: "result"; readonly result: CaseResult }

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

/** Runs one case in a child process, which takes its turns as `member` of `turns` and sends its result over IPC. */
const runInChild = (
  suite: Suite,
  spec: CaseSpec,
  env: Readonly<Record<string, string>>,
  turns: Turns,
  member: number
): Promise<CaseResult> =>
  new Promise((resolve, reject) => {
    // The child inherits this process's flags (so `node --cpu-prof` profiles every case);
    // `--expose-gc` lets it collect the warm-up's garbage before measuring.
    const child: ChildProcess = fork(mainPath, [suite.name, "--child", JSON.stringify(spec)], {
      env: { ...process.env, ...env },
      execArgv: [...process.execArgv, "--expose-gc"],
      stdio: ["ignore", "pipe", "inherit", "ipc"]
    })
    // Nothing but result lines may reach stdout: whatever the child prints goes to stderr.
    child.stdout?.pipe(process.stderr)
    let result: CaseResult | undefined
    child.on("message", (message: ChildMessage) => {
      if (message.kind === "turn") turns.ask(member, () => child.send("go"))
      else result = message.result
    })
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      turns.leave(member)
      if (result !== undefined) resolve(result)
      else reject(new Error(`case "${describe(spec)}" exited with ${signal ?? code} and no result`))
    })
  })

/** The selected cases, grouped by pair in plan order. */
const pairsOf = (specs: ReadonlyArray<CaseSpec>): Array<Array<CaseSpec>> => {
  const pairs = new Map<string, Array<CaseSpec>>()
  for (const spec of specs) {
    const pair = pairs.get(spec.pair)
    if (pair === undefined) pairs.set(spec.pair, [spec])
    else pair.push(spec)
  }
  return [...pairs.values()]
}

/** Runs every selected case of a suite and prints its JSON lines. */
export const runSuite = async (suite: Suite): Promise<void> => {
  const started = performance.now()
  const specs = suite.plan().filter(selected)
  const prepared = await suite.prepare?.(specs)
  try {
    for (const pair of pairsOf(specs)) {
      for (const spec of pair) log(`[${suite.name}] ${describe(spec)} ...`)
      // Other processes on the machine skew the numbers: the line says how busy it was.
      const loadAvg1 = Math.round((loadavg()[0] ?? 0) * 100) / 100
      const turns = new Turns(pair.length)
      const results = await Promise.allSettled(
        pair.map((spec, member) => runInChild(suite, spec, prepared?.env ?? {}, turns, member))
      )
      const baseline = results.find((result, index) => result.status === "fulfilled" && pair[index]?.baseline)
      results.forEach((result, index) => {
        const spec = pair[index] as CaseSpec
        if (result.status === "rejected") {
          // One failed case does not hide the others; the run still fails at the end.
          const error: unknown = result.reason
          log(`[${suite.name}] FAILED: ${error instanceof Error ? error.message : String(error)}`)
          process.exitCode = 1
          return
        }
        const comparison =
          !spec.baseline && baseline?.status === "fulfilled" ? suite.compare(result.value, baseline.value) : {}
        process.stdout.write(
          `${JSON.stringify({ case: spec.case, impl: spec.impl, ...result.value, ...comparison, loadAvg1 })}\n`
        )
      })
    }
  } finally {
    await prepared?.close()
  }
  log(`[${suite.name}] done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

/** Asks the parent for the next turn and waits for it; run by hand, without a parent, every turn is at once. */
const turnOfChild: Turn = () => {
  const send = process.send?.bind(process)
  if (send === undefined) return Promise.resolve()
  return new Promise((resolve) => {
    process.once("message", () => resolve())
    send({ kind: "turn" } satisfies ChildMessage)
  })
}

/** The child side: runs one case and sends its result to the parent (or prints it when run by hand). */
export const runChild = async (suite: Suite, specJson: string): Promise<void> => {
  const spec = JSON.parse(specJson) as CaseSpec
  const result = await suite.run(spec, turnOfChild)
  const send = process.send?.bind(process)
  if (send === undefined) {
    process.stdout.write(`${JSON.stringify({ case: spec.case, impl: spec.impl, ...result })}\n`)
    process.exit(0)
  }
  // Exit once the result is out: a case may leave timers or fibers behind.
  send({ kind: "result", result } satisfies ChildMessage, undefined, {}, () => process.exit(0))
}
