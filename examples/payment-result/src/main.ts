/**
 * Scenario S1, asynchronous payment result: `pnpm demo`.
 *
 * Runs on the embedded memory broker, or on NATS JetStream when `NATS_URL`
 * names a server (`NATS_URL=nats://127.0.0.1:4222 pnpm demo`). The transport
 * is chosen in one place, `transportLayer`. `S1_SEED=<n>` replays a run's
 * random choices.
 *
 * Exit code: 0 when every promise of S1 held, 1 when one did not.
 */
import { randomUUID } from "node:crypto"
import { type Errors, MemoryTransport, type Transport } from "@sluice/core"
import { NatsTransport } from "@sluice/transport-nats"
import { Cause, Effect, Exit, type Layer } from "effect"
import { runPaymentResult, type ScenarioOutcome } from "./run.ts"

/** The transport of this run. */
const transportLayer = (env: NodeJS.ProcessEnv): Layer.Layer<Transport.TransportService, Errors.ConnectError> =>
  env.NATS_URL !== undefined && env.NATS_URL !== ""
    ? NatsTransport.layer({ servers: env.NATS_URL.split(","), name: "sluice-demo-s1" })
    : MemoryTransport.layer()

/** NATS keeps message ids of earlier runs for its dedup window: each run there gets ids of its own. */
const runIdOf = (env: NodeJS.ProcessEnv): string | undefined =>
  env.NATS_URL !== undefined && env.NATS_URL !== "" ? randomUUID().slice(0, 8) : undefined

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

const seed = seedOf(process.env)
const runId = runIdOf(process.env)
const exit = await Effect.runPromiseExit(
  runPaymentResult(transportLayer(process.env), {
    ...(seed === undefined ? {} : { seed }),
    ...(runId === undefined ? {} : { runId })
  })
)
if (Exit.isSuccess(exit)) {
  for (const line of report(exit.value)) console.log(line)
  process.exitCode = exit.value.ok ? 0 : 1
} else {
  console.error(Cause.pretty(exit.cause))
  console.log(`S1 FAILED: ${String(Cause.squash(exit.cause))}`)
  process.exitCode = 1
}
