/**
 * The transport conformance suite: one `describe` block per run that checks
 * every point of the `Transport` contract (and the Bus behaviour built on it)
 * against a transport made by `make`. Time-based checks run on the TestClock
 * when `features.virtualTime` is true, with short real durations otherwise.
 *
 * `SLUICE_STRESS=N` repeats the whole suite N times.
 */
import { describe } from "@effect/vitest"
import type { Transport } from "@sluice/core"
import type { Effect, Scope } from "effect"
import { broadcastTests } from "./broadcast.ts"
import { busTests } from "./bus.ts"
import { deadLetterTests } from "./deadLetters.ts"
import { deliveryTests } from "./delivery.ts"
import { groupTests } from "./groups.ts"
import { makeHarness } from "./harness.ts"
import { publishTests } from "./publish.ts"
import { type RestartableBroker, restartTests } from "./restart.ts"
import { retentionTests } from "./retention.ts"
import { settingsTests } from "./settings.ts"
import { statusTests } from "./status.ts"
import { validationTests } from "./validation.ts"

const stressRuns = (): number => {
  const raw = process.env.SLUICE_STRESS
  if (raw === undefined || raw === "") return 1
  const runs = Number(raw)
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`SLUICE_STRESS must be a positive integer, got ${JSON.stringify(raw)}`)
  return runs
}

/**
 * Registers the conformance suite for one transport.
 *
 * @param name Shown in the test names (`describe(name)`).
 * @param make Makes a fresh transport in the test's scope; each test makes its own.
 * @param features What the transport offers; the suite adapts to it.
 * @param broker For a durable transport: a broker of its own that the suite may kill and restart, for the
 *   case that checks nothing confirmed is lost across broker restarts. Required when `features.durable`.
 */
export const transportSuite = (
  name: string,
  make: Effect.Effect<Transport.Transport, unknown, Scope.Scope>,
  features: Transport.TransportFeatures,
  broker?: RestartableBroker
): void => {
  if (features.durable && broker === undefined)
    throw new Error(`${name} is durable: pass a broker the suite may restart, to check that nothing confirmed is lost`)
  const runs = stressRuns()
  for (let run = 1; run <= runs; run++) {
    // On a real clock most tests wait; running a few at once keeps the suite short.
    const block = features.virtualTime ? describe : describe.concurrent
    block(runs === 1 ? name : `${name} (run ${run}/${runs})`, () => {
      const h = makeHarness(make, features)
      publishTests(h)
      groupTests(h)
      deliveryTests(h)
      retentionTests(h)
      settingsTests(h)
      broadcastTests(h)
      validationTests(h)
      busTests(h)
      deadLetterTests(h)
      statusTests(h)
    })
    // Not concurrent with the rest: it kills a broker, and takes its time.
    if (broker !== undefined)
      describe(runs === 1 ? name : `${name} (run ${run}/${runs})`, () =>
        restartTests(makeHarness(broker.make, features), broker)
      )
  }
}
