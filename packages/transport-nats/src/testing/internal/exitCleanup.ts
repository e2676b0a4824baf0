/**
 * What must not outlive the test run: spawned servers and their temporary directories.
 *
 * Invariant: a run that fails or forgets a `stop()` still kills every server it started and removes their
 * files when Node exits (not when Node itself is SIGKILLed: nothing runs then).
 *
 * Why: a test that throws before its `stop()` must not leave servers running for the next run.
 */
import type { ChildProcess } from "node:child_process"
import { rmSync } from "node:fs"

const children = new Set<ChildProcess>()
const dirs = new Set<string>()
let hooked = false

const cleanUp = (): void => {
  for (const child of children) child.kill("SIGKILL")
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // A directory that a dying server still writes to stays behind: nothing more can be done at exit.
    }
  }
}

const hook = (): void => {
  if (hooked) return
  hooked = true
  process.on("exit", cleanUp)
}

/** SIGKILLs `child` (by its own handle, so its PID) at exit unless it exited before. */
export const killAtExit = (child: ChildProcess): void => {
  hook()
  children.add(child)
  child.once("exit", () => children.delete(child))
}

/** Removes `dir` at exit unless {@link keepAtExit} was called for it. */
export const removeAtExit = (dir: string): void => {
  hook()
  dirs.add(dir)
}

/** Forgets `dir`: it was removed already. */
export const keepAtExit = (dir: string): void => {
  dirs.delete(dir)
}
