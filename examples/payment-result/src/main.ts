/**
 * Scenario S1, asynchronous payment result: `pnpm demo`.
 *
 * Runs on the embedded memory broker. The transport is chosen in one place,
 * `transportLayer`; with `NATS_URL` set it will be NATS JetStream once that
 * transport exists. `S1_SEED=<n>` replays a run's random choices.
 *
 * Exit code: 0 when every promise of S1 held, 1 when one did not, 2 when the
 * requested transport is not available.
 */
import { MemoryTransport, type TransportService } from "@sluice/core"
import { Cause, Effect, Exit, type Layer } from "effect"
import { runPaymentResult, type ScenarioOutcome } from "./run.ts"

/** The transport of this run, or why there is none. */
const transportLayer = (env: NodeJS.ProcessEnv): Layer.Layer<TransportService> | string => {
  if (env.NATS_URL !== undefined && env.NATS_URL !== "")
    return `NATS_URL is set (${env.NATS_URL}), but the NATS transport is not available yet; unset NATS_URL to run on the memory broker`
  return MemoryTransport.layer()
}

const seedOf = (env: NodeJS.ProcessEnv): number | undefined => {
  const seed = Number(env.S1_SEED)
  return env.S1_SEED !== undefined && Number.isSafeInteger(seed) ? seed : undefined
}

const report = (outcome: ScenarioOutcome): ReadonlyArray<string> => [
  `S1 asynchronous payment result, on the ${outcome.transport} broker (seed ${outcome.seed}; S1_SEED=${outcome.seed} replays it)`,
  ...outcome.story.map((line) => `  - ${line}`),
  `published ${outcome.published} results; the broker dropped ${outcome.duplicatesDropped} as duplicates and stored ${outcome.published - outcome.duplicatesDropped}`,
  `consumed ${outcome.deliveries} deliveries in group "orders": ${outcome.redeliveries} redelivered after ${outcome.handlerFailures} handler failures, ${outcome.applied} applied, ${outcome.repeated} repeats changed nothing`,
  `orders: ${outcome.paid} paid, ${outcome.failed} failed, ${outcome.pending} pending`,
  ...outcome.problems.map((problem) => `  ! ${problem}`),
  outcome.ok
    ? `S1 OK (${outcome.elapsedMillis} ms)`
    : `S1 FAILED: ${outcome.problems[0] ?? "unknown"}${outcome.problems.length > 1 ? ` (and ${outcome.problems.length - 1} more)` : ""}`
]

const transport = transportLayer(process.env)
if (typeof transport === "string") {
  console.error(transport)
  process.exitCode = 2
} else {
  const seed = seedOf(process.env)
  const exit = await Effect.runPromiseExit(runPaymentResult(transport, seed === undefined ? {} : { seed }))
  if (Exit.isSuccess(exit)) {
    for (const line of report(exit.value)) console.log(line)
    process.exitCode = exit.value.ok ? 0 : 1
  } else {
    console.error(Cause.pretty(exit.cause))
    console.log(`S1 FAILED: ${String(Cause.squash(exit.cause))}`)
    process.exitCode = 1
  }
}
