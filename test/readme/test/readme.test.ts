/**
 * The README's tour, run as written: each face's block, after the block that
 * defines the topic, as a program of its own on the embedded broker. The
 * functions the tour leaves to the reader (`bill`, `ship`) do nothing.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
const tour = readme.slice(readme.indexOf("## A tour in three faces"), readme.indexOf("## What a consumer guarantees"))
const [topic = "", ...faces] = [...tour.matchAll(/```ts\n([\s\S]*?)```/g)].map((block) => block[1] ?? "")
const names = [...tour.matchAll(/^### (.+)$/gm)].map((heading) => heading[1] ?? "")

/** One program: the imports of both blocks first, then the topic, the stubs and the face's code. */
const program = (face: string): string => {
  const lines = `${topic}\nconst bill = async (_: unknown) => {}\nconst ship = async (_: unknown) => {}\n${face}`.split(
    "\n"
  )
  const imports = lines.filter((line) => line.startsWith("import "))
  return [...imports, ...lines.filter((line) => !line.startsWith("import "))].join("\n")
}

// Inside this package, so that `@sluice/core` and `rxjs` resolve as they do for a user.
const dir = mkdtempSync(join(import.meta.dirname, ".run-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("README tour", () => {
  it("has a topic block and one block per face", () => {
    expect(names).toEqual(["Promises", "Effect", "RxJS"])
    expect(faces).toHaveLength(3)
  })

  faces.forEach((face, index) => {
    it(`the ${names[index]} face runs as written and exits cleanly`, async () => {
      const file = join(dir, `face-${index}.ts`)
      writeFileSync(file, program(face))
      const run = await promisify(execFile)(process.execPath, [file], { timeout: 20_000 })
      expect(run.stderr).toBe("")
    })
  })
})
