/**
 * Waiting for a condition that has no event to wait on.
 *
 * Invariant: a check that throws counts as "not yet"; the wait ends at its timeout, give or take one check.
 *
 * Why: a server's readiness and a leader election announce themselves to no one.
 */
import { setTimeout as sleep } from "node:timers/promises"

/**
 * Calls `check` every `intervalMs` milliseconds until it returns a value other
 * than undefined and returns that value; returns undefined after `timeoutMs`
 * milliseconds. A check that throws counts as "not yet".
 */
export const poll = async <A>(
  check: () => Promise<A | undefined>,
  timeoutMs: number,
  intervalMs = 50
): Promise<A | undefined> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const result = await check().catch(() => undefined)
    if (result !== undefined) return result
    if (Date.now() >= deadline) return undefined
    await sleep(intervalMs)
  }
}
