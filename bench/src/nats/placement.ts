/**
 * Where the cluster cases' streams and consumers are led from. A JetStream
 * cluster places each stream's and each consumer's leader on a node of its
 * choosing; a leader on another node than the client's adds a hop to every
 * message, and the two implementations of a case would then be compared on
 * different paths (seen: a ratio of 0.75 in one run, 1.6 in the next). So,
 * before measuring and untimed, each child creates its stream or its
 * consumers with the raw client and moves their leaders (by step-downs) to
 * the node both clients connect to; after measuring, it reports where they were.
 */
import type { NatsConnection } from "@nats-io/transport-node"
import { log } from "../runner.ts"
import { addDurable, createStream, withClient } from "./raw.ts"
import { streamOf, type Target } from "./target.ts"

/** Step-downs tried before giving up on a leader's place (each elects one of the other nodes at random). */
const STEPDOWN_ATTEMPTS = 10
/** How long a stream or consumer may go without a leader after a step-down, in milliseconds. */
const ELECTION_TIMEOUT_MS = 10_000

/**
 * Waits until `read` names a leader other than `previous`; undefined when none came in time. While there
 * is no leader, the server may answer with an error ("JetStream system temporarily unavailable").
 */
const nextLeader = async (
  read: () => Promise<string | undefined>,
  previous: string | undefined
): Promise<string | undefined> => {
  const deadline = Date.now() + ELECTION_TIMEOUT_MS
  for (;;) {
    const leader = await read().catch(() => undefined)
    if (leader !== undefined && leader !== "" && leader !== previous) return leader
    if (Date.now() > deadline) return undefined
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Steps the leader down until `wanted` leads; logs, and goes on, when it does not happen. */
const moveLeader = async (
  nc: NatsConnection,
  what: string,
  wanted: string,
  stepdownSubject: string,
  read: () => Promise<string | undefined>
): Promise<void> => {
  let leader = await nextLeader(read, undefined)
  for (let attempt = 0; leader !== wanted; attempt++) {
    if (attempt === STEPDOWN_ATTEMPTS || leader === undefined) {
      log(`  ${what}: led by ${leader ?? "no node"}, not ${wanted}; measuring anyway`)
      return
    }
    await nc.request(stepdownSubject, undefined, { timeout: ELECTION_TIMEOUT_MS })
    leader = await nextLeader(read, leader)
  }
}

/**
 * Creates the topic's stream (if the parent did not) and the named durable consumers, the way the
 * implementations create them, and moves every leader to the node the clients connect to.
 */
export const pin = (target: Target, topic: string, replicas: number, consumers: ReadonlyArray<string>): Promise<void> =>
  withClient(target, async ({ nc, jsm }) => {
    const wanted = nc.info?.server_name ?? ""
    const stream = streamOf(topic)
    await createStream(jsm, topic, replicas)
    await moveLeader(
      nc,
      `stream ${stream}`,
      wanted,
      `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`,
      async () => (await jsm.streams.info(stream)).cluster?.leader
    )
    for (const name of consumers) {
      await addDurable(jsm, stream, name)
      await moveLeader(
        nc,
        `consumer ${name}`,
        wanted,
        `$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${name}`,
        async () => (await jsm.consumers.info(stream, name)).cluster?.leader
      )
    }
  })

/** Where the stream and the consumers were led from, and the node the clients connected to. */
export const placementOf = (
  target: Target,
  topic: string,
  consumers: ReadonlyArray<string>
): Promise<Record<string, unknown>> =>
  withClient(target, async ({ nc, jsm }) => {
    const stream = streamOf(topic)
    const consumerLeaders: Array<string> = []
    for (const name of consumers) consumerLeaders.push((await jsm.consumers.info(stream, name)).cluster?.leader ?? "")
    return {
      connectedTo: nc.info?.server_name ?? "",
      streamLeader: (await jsm.streams.info(stream)).cluster?.leader ?? "",
      ...(consumers.length === 0 ? {} : { consumerLeaders })
    }
  })
