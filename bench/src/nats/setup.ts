/**
 * The parent's side of the nats suite: starts the servers the selected cases
 * need, once, and publishes the consume cases' backlogs before any case runs
 * (untimed, with the raw client); tears everything down after the last case.
 */

import { headers } from "@nats-io/transport-node"
import { NatsCluster, NatsServer } from "@sluice/transport-nats/testing"
import { log, type Prepared } from "../runner.ts"
import { round } from "../stats.ts"
import { encodeOrder } from "./order.ts"
import { caseDef, replicasOf, warmupOf } from "./params.ts"
import { createStream, withClient } from "./raw.ts"
import { Env, newRunId, runPrefix, streamOf, type Target, topicOf } from "./target.ts"

/** Messages sent between two flushes while publishing a backlog: the flush's round trip paces the sender. */
const FLUSH_EVERY = 10_000
/** How long a backlog may take to be stored once sent, in milliseconds. */
const STORE_TIMEOUT_MS = 120_000

/**
 * Publishes the backlog of a consume case, its warm-up and its measured messages, with a `Nats-Msg-Id`
 * each as Sluice's publish sets it. Core NATS publishes without waiting for each confirmation (about ten
 * times the rate of confirmed publishes, so the 1M backlog takes seconds, not a minute), flushed every
 * 10,000; then waits until the stream holds them all.
 */
const publishBacklog = (target: Target, topic: string, caseName: string, replicas: number, count: number) =>
  withClient(target, async ({ nc, jsm }) => {
    await createStream(jsm, topic, replicas)
    const started = performance.now()
    for (let i = 0; i < count; i++) {
      const wire = headers()
      wire.set("Nats-Msg-Id", `backlog-${i}`)
      nc.publish(topic, encodeOrder(i), { headers: wire })
      if ((i + 1) % FLUSH_EVERY === 0) await nc.flush()
    }
    await nc.flush()
    const deadline = Date.now() + STORE_TIMEOUT_MS
    const stored = async () => (await jsm.streams.info(streamOf(topic))).state.messages
    for (let held = await stored(); held < count; held = await stored()) {
      if (Date.now() > deadline) throw new Error(`backlog ${caseName}: the stream holds ${held} of ${count} messages`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    log(`  backlog ${caseName}: ${count} messages in ${round((performance.now() - started) / 1000, 1)} s`)
  })

/** Deletes this run's streams from a server the suite does not own, which would keep them. */
const deleteStreams = (target: Target, run: string) =>
  withClient(target, async ({ jsm }) => {
    const prefix = `${streamOf(runPrefix(run))}~`
    for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) await jsm.streams.delete(name)
  })

/**
 * The server (NATS_URL's, else a spawned one), the cluster (always spawned) if a cluster case is selected,
 * and the backlogs of the selected consume cases. What was started is stopped if a later step fails.
 */
export const prepare = async (caseNames: ReadonlyArray<string>): Promise<Prepared> => {
  const run = newRunId()
  const env: Record<string, string> = { [Env.run]: run }
  const cleanups: Array<() => Promise<void>> = []
  const close = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (error) {
        log(`[nats] cleanup failed: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
  }
  const defs = [...new Set(caseNames)].map(caseDef)
  try {
    const targets: { single?: Target; cluster?: Target } = {}
    if (defs.some((def) => !def.cluster)) {
      const server = await NatsServer.acquire()
      cleanups.push(() => server.stop())
      targets.single = server.connectTarget
      env[Env.server] = JSON.stringify(server.connectTarget)
      log(`[nats] server: ${server.kind} at ${server.url}`)
      if (server.kind === "external") {
        const target = server.connectTarget
        cleanups.push(() => deleteStreams(target, run))
      }
    }
    if (defs.some((def) => def.cluster)) {
      const cluster = await NatsCluster.start()
      cleanups.push(() => cluster.stop())
      targets.cluster = { servers: cluster.urls }
      env[Env.cluster] = JSON.stringify(targets.cluster)
      log(`[nats] cluster: ${cluster.urls.join(", ")}`)
    }
    for (const def of defs) {
      if (def.kind !== "consume") continue
      const target = def.cluster ? targets.cluster : targets.single
      if (target === undefined) throw new Error(`no server for ${def.name}`)
      const messages = def.messages()
      await publishBacklog(
        target,
        topicOf(run, def.name, undefined),
        def.name,
        replicasOf(def),
        warmupOf(messages) + messages
      )
    }
  } catch (error) {
    await close()
    throw error
  }
  return { env, close }
}
