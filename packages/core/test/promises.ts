import { expect } from "@effect/vitest"

/**
 * Waits, letting the event loop turn, until `check` holds (a check that throws, such as a lag asked
 * before the consumer joined its group, does not hold yet); fails naming `what` when it has not after
 * 20,000 turns and `withinMillis` of real time.
 */
export const until = async (
  what: string,
  check: () => boolean | Promise<boolean>,
  withinMillis = 5_000
): Promise<void> => {
  const deadline = Date.now() + withinMillis
  for (let i = 0; i < 20_000 || Date.now() < deadline; i++) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return
    await new Promise((resolve) => setImmediate(resolve))
  }
  expect.fail(`expected ${what}`)
}
