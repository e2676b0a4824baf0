/**
 * Entry point of the benchmarks: `node src/main.ts <suite>`.
 *
 * Each suite runs every case in a child process of its own (this file again,
 * with `--child`), so that each case and each implementation gets a fresh heap
 * and its own peak RSS. Results are JSON lines on stdout; progress goes to stderr.
 */
import { runChild, runSuite, type Suite } from "./runner.ts"

/** The suites, by name. Adding a suite is one line here. */
const suites: Readonly<Record<string, () => Promise<Suite>>> = {
  memory: async () => (await import("./memory/suite.ts")).suite,
  nats: async () => (await import("./nats/suite.ts")).suite
}

const [name, mode, spec] = process.argv.slice(2)
const load = name === undefined ? undefined : suites[name]
if (load === undefined) {
  process.stderr.write(`usage: node src/main.ts <suite>   (suites: ${Object.keys(suites).join(", ")})\n`)
  process.exitCode = 1
} else {
  const suite = await load()
  if (mode === "--child" && spec !== undefined) await runChild(suite, spec)
  else await runSuite(suite)
}
