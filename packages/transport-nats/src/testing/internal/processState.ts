/**
 * Whether a process has really stopped after SIGSTOP.
 *
 * Invariant: where Linux's /proc can tell, stopped means every thread of the process is stopped; elsewhere
 * the signal is all there is to go by.
 *
 * Why: `kill()` returns when the signal is queued, and a thread of the server on another CPU may still
 * answer a request before it stops.
 */
import { readdir, readFile } from "node:fs/promises"

/** The state letter in /proc/<pid>/task/<tid>/stat, after the command name in parentheses. */
const stateOf = (stat: string): string => stat.slice(stat.lastIndexOf(")") + 2).charAt(0)

/**
 * Whether every thread of process `pid` is stopped ("T"); a thread that is
 * gone counts as stopped, and so does everything where /proc cannot tell.
 */
export const isStopped = async (pid: number): Promise<boolean> => {
  let threads: Array<string>
  try {
    threads = await readdir(`/proc/${pid}/task`)
  } catch {
    return true
  }
  const states = await Promise.all(
    threads.map((tid) => readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").then(stateOf, () => "T"))
  )
  return states.every((state) => state === "T")
}
