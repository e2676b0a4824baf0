/**
 * The README's tour, run as written: each face's block, after the block that
 * defines the topic, as a program of its own on the embedded broker; then the
 * NATS section's block, and the Promise face connected as that block shows,
 * against a nats-server of the test's own. The functions the tour leaves to
 * the reader (`bill`, `ship`) do nothing.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { NatsServer } from "@sluice/transport-nats/testing"
import { afterAll, describe, expect, it } from "vitest"

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
const tour = readme.slice(readme.indexOf("## A tour in three faces"), readme.indexOf("## What a consumer guarantees"))
const [topic = "", ...faces] = [...tour.matchAll(/```ts\n([\s\S]*?)```/g)].map((block) => block[1] ?? "")
const names = [...tour.matchAll(/^### (.+)$/gm)].map((heading) => heading[1] ?? "")
const natsSection = readme.slice(readme.indexOf("## NATS JetStream"), readme.indexOf("## Layout"))
const [natsBlock = ""] = [...natsSection.matchAll(/```ts\n([\s\S]*?)```/g)].map((block) => block[1] ?? "")
/** The server the NATS section names; the test points it at a server of its own. */
const README_SERVER = "nats://127.0.0.1:4222"

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

  it("the NATS section's block runs as written, and so does the Promise face connected as it shows", async () => {
    const connect = natsBlock.split("\n").find((line) => line.includes("Sluice.connect("))
    expect(connect, "the NATS block connects with Sluice.connect").toBeDefined()
    expect(natsBlock).toContain(README_SERVER)
    const server = await NatsServer.start()
    try {
      const onServer = (code: string) => code.replaceAll(README_SERVER, server.url)
      const promiseFace = faces[names.indexOf("Promises")] ?? ""
      const programs = [
        onServer(natsBlock),
        onServer(
          `import { NatsTransport } from "@sluice/transport-nats"\n${promiseFace.replace(/^const sluice = .*$/m, connect ?? "")}`
        )
      ]
      for (const [index, code] of programs.entries()) {
        const file = join(dir, `nats-${index}.ts`)
        writeFileSync(file, program(code))
        const run = await promisify(execFile)(process.execPath, [file], { timeout: 20_000 })
        expect(run.stderr).toBe("")
      }
    } finally {
      await server.stop()
    }
  })
})
