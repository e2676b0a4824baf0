/**
 * Summarises `.cpuprofile` files (from `node --cpu-prof`): the functions with
 * the most self time, and the self time per file.
 *
 *   node src/cpuprofile.ts <file.cpuprofile>... [--top 30]
 */
import { readFileSync } from "node:fs"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
  readonly children?: ReadonlyArray<number>
  readonly positionTicks?: ReadonlyArray<{ readonly line: number; readonly ticks: number }>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

// Piped into `head`: stop quietly when the reader is gone.
process.stdout.on("error", () => process.exit(0))

const args = process.argv.slice(2)
const topIndex = args.indexOf("--top")
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 30
const files = args.filter((arg, index) => arg !== "--top" && index !== topIndex + 1)

const shortUrl = (url: string): string =>
  url
    .replace(/^file:\/\//, "")
    .replace(/.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "")
    .replace(/.*\/(packages|bench)\//, "$1/")

const print = (title: string, totals: Map<string, number>, all: number): void => {
  process.stdout.write(`\n${title}\n`)
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
  for (const [name, micros] of rows)
    process.stdout.write(
      `${((100 * micros) / all).toFixed(1).padStart(5)} %  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}\n`
    )
}

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, index) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0))
  })
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const nameOf = (node: ProfileNode): string => {
    const frame = node.callFrame
    const where = frame.url === "" ? "" : ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    return `${frame.functionName === "" ? "(anonymous)" : frame.functionName}${where}`
  }
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  const byLine = new Map<string, number>()
  let all = 0
  for (const [id, micros] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    const frame = node.callFrame
    all += micros
    const name = nameOf(node)
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros)
    const source = frame.url === "" ? frame.functionName : shortUrl(frame.url)
    byFile.set(source, (byFile.get(source) ?? 0) + micros)
    // Spread the node's self time over its lines, by their share of its ticks.
    const ticks = node.positionTicks ?? []
    const count = ticks.reduce((sum, tick) => sum + tick.ticks, 0)
    for (const tick of ticks) {
      const line = `${source}:${tick.line}`
      byLine.set(line, (byLine.get(line) ?? 0) + (micros * tick.ticks) / count)
    }
  }
  // Total time: each sample counts once for every distinct function on its stack.
  const total = new Map<string, number>()
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at)
      if (node === undefined) break
      const name = nameOf(node)
      if (seen.has(name)) continue
      seen.add(name)
      total.set(name, (total.get(name) ?? 0) + micros)
    }
  })
  process.stdout.write(`${file}: ${(all / 1000).toFixed(0)} ms sampled\n`)
  print("self time by function", byFunction, all)
  print("self time by line", byLine, all)
  print("self time by file", byFile, all)
  print("total time (self and callees) by function", total, all)
}
