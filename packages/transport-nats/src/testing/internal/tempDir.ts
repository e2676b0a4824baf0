/**
 * Fresh temporary directories for server stores and configs.
 *
 * Invariant: each is removed with its server, or at the latest when Node exits.
 *
 * Why: the stores of killed servers must not pile up in the temp directory.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { keepAtExit, removeAtExit } from "./exitCleanup.ts"

/** A new empty directory under the OS temp dir, removed at exit if nobody removes it before. */
export const makeTempDir = async (prefix: string): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  removeAtExit(dir)
  return dir
}

/** Removes a directory made by {@link makeTempDir} with everything in it. */
export const removeTempDir = async (dir: string): Promise<void> => {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  keepAtExit(dir)
}
