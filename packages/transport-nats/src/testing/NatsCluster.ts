/**
 * A JetStream cluster of `nats-server` processes on 127.0.0.1, for tests of what happens when a stream
 * leader dies or freezes: every node can be killed, paused and restarted with its own config and store.
 *
 * Invariant: `start` returns once the cluster has elected its JetStream meta leader, and `stop` ends every
 * node and removes the cluster's directory (at the latest when Node exits).
 *
 * Why: a failover is only real with real servers electing leaders.
 */
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { findNatsServer, searchedPlaces } from "./internal/binary.ts"
import { isMetaLeader } from "./internal/monitor.ts"
import { NatsServerError, toNatsServerError } from "./internal/NatsServerError.ts"
import { poll } from "./internal/poll.ts"
import { freePorts, isPortClash } from "./internal/ports.ts"
import { type KillSignal, ServerProcess } from "./internal/ServerProcess.ts"
import { makeTempDir, removeTempDir } from "./internal/tempDir.ts"

/** How often a start is tried with fresh ports when another process took one of them first. */
const PORT_ATTEMPTS = 3
/** How long a started cluster may take to elect its JetStream meta leader, in milliseconds. */
const META_LEADER_TIMEOUT_MS = 10_000
/**
 * How long {@link RunningCluster.streamLeader} waits for a stream leader on a live node, in milliseconds.
 * A failover elects one in 5 to 9 s here; an election that splits its vote starts over, and a loaded
 * machine (the test suite runs files in parallel) once took more than 15 s.
 */
const STREAM_LEADER_TIMEOUT_MS = 30_000
/** How long one connection attempt or JetStream request of {@link RunningCluster.streamLeader} may take, in milliseconds. */
const REQUEST_TIMEOUT_MS = 1_000

/** Options of {@link start}. */
export interface ClusterOptions {
  /** Number of nodes, named n1, n2, …. Default 3, as a stream with three replicas needs. */
  readonly nodes?: number
}

/** One node of a cluster. */
export interface ClusterNode {
  /** The server name, as stream info reports leaders and replicas: n1, n2, …. */
  readonly name: string
  /** `nats://127.0.0.1:port` of its client port. */
  readonly url: string
  /** Its client port. */
  readonly port: number
  /** The PID of its latest process. */
  readonly pid: number
  /** Whether its latest process has not exited (a paused process runs). */
  readonly running: boolean
  /** Whether it is frozen by {@link pause}. */
  readonly paused: boolean
  /** Its JetStream store directory. */
  readonly storeDir: string
  /** Sends `signal` (default SIGKILL) and waits until the process exited. */
  kill(signal?: KillSignal): Promise<void>
  /** Freezes the node with SIGSTOP and waits until it stopped: its connections stay open, nothing is answered. */
  pause(): Promise<void>
  /** Lets a paused node go on with SIGCONT. */
  resume(): Promise<void>
  /**
   * Starts the node again with the same config and store (stopping it first
   * if it runs); waits until it is in contact with the meta leader and its
   * streams are current, as its `/healthz` reports.
   */
  restart(): Promise<void>
}

/** A started cluster. */
export interface RunningCluster {
  /** The client URLs of all nodes, for `connect({ servers: cluster.urls })`; a fresh array on each read. */
  readonly urls: Array<string>
  /** The nodes in name order: n1, n2, …. */
  readonly nodes: ReadonlyArray<ClusterNode>
  /** The node named `name`; throws a {@link NatsServerError} when there is none. */
  node(name: string): ClusterNode
  /**
   * The name of the node that leads `stream`, asked of the nodes that are
   * running and not paused. Waits while the stream has no leader or its
   * reported leader is a node this harness killed or paused (the survivors
   * may not have noticed yet).
   */
  streamLeader(stream: string): Promise<string>
  /** Stops every node and removes the cluster's directory. */
  stop(): Promise<void>
}

interface NodeSpec {
  readonly name: string
  readonly port: number
  readonly monitorPort: number
  readonly routePort: number
  readonly storeDir: string
  readonly configFile: string
}

const configOf = (node: NodeSpec, routes: string): string =>
  [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.port}`,
    `http: 127.0.0.1:${node.monitorPort}`,
    `jetstream { store_dir: ${JSON.stringify(node.storeDir)} }`,
    `cluster { name: sluice, listen: 127.0.0.1:${node.routePort}, routes: [${routes}] }`,
    ""
  ].join("\n")

const isRejected = (result: PromiseSettledResult<unknown>): result is PromiseRejectedResult =>
  result.status === "rejected"

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const nodeHandle = (spec: NodeSpec, server: ServerProcess): ClusterNode => ({
  name: spec.name,
  url: `nats://127.0.0.1:${spec.port}`,
  port: spec.port,
  storeDir: spec.storeDir,
  get pid() {
    return server.pid
  },
  get running() {
    return server.running
  },
  get paused() {
    return server.paused
  },
  kill: (signal) => server.kill(signal),
  pause: () => server.pause(),
  resume: async () => server.resume(),
  restart: () => server.restart()
})

/** What one look at a stream's leader found. */
type LeaderLook = { readonly leader: string } | { readonly missing: true }

const streamLeaderOf = async (nodes: ReadonlyArray<ClusterNode>, stream: string): Promise<string> => {
  const isUp = (name: string): boolean => nodes.some((node) => node.name === name && node.running && !node.paused)
  const servers = nodes.filter((node) => isUp(node.name)).map((node) => node.url)
  if (servers.length === 0) throw new NatsServerError({ reason: "every node of the cluster is down or paused" })
  let last = "no answer yet"
  const connection = await connect({ servers, timeout: REQUEST_TIMEOUT_MS, ignoreClusterUpdates: true }).catch(
    (error: unknown) => {
      throw new NatsServerError({ reason: `cannot connect to the cluster (${servers.join(", ")}): ${describe(error)}` })
    }
  )
  try {
    const manager = await jetstreamManager(connection, { timeout: REQUEST_TIMEOUT_MS, checkAPI: false })
    const look = await poll(async (): Promise<LeaderLook | undefined> => {
      try {
        const leader = (await manager.streams.info(stream)).cluster?.leader
        if (leader !== undefined && leader !== "" && isUp(leader)) return { leader }
        last = leader === undefined || leader === "" ? "the stream has no leader" : `its leader is still ${leader}`
        return undefined
      } catch (error) {
        if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)
          return { missing: true }
        last = describe(error)
        return undefined
      }
    }, STREAM_LEADER_TIMEOUT_MS)
    if (look === undefined)
      throw new NatsServerError({
        reason: `stream ${stream} has no leader on a live node after ${STREAM_LEADER_TIMEOUT_MS} ms (last: ${last})`
      })
    if ("missing" in look) throw new NatsServerError({ reason: `stream ${stream} does not exist` })
    return look.leader
  } finally {
    await connection.close()
  }
}

const startNodes = async (binary: string, count: number): Promise<RunningCluster> => {
  for (let attempt = 1; ; attempt++) {
    const dir = await makeTempDir("sluice-nats-cluster-")
    const ports = await freePorts(3 * count)
    const specs = Array.from({ length: count }, (_, i): NodeSpec => {
      const name = `n${i + 1}`
      return {
        name,
        port: ports.take(),
        monitorPort: ports.take(),
        routePort: ports.take(),
        storeDir: join(dir, name),
        configFile: join(dir, `${name}.conf`)
      }
    })
    const routes = specs.map((spec) => `nats://127.0.0.1:${spec.routePort}`).join(", ")
    await Promise.all(specs.map((spec) => writeFile(spec.configFile, configOf(spec, routes))))
    // All at once: a node is ready only when it reaches a meta leader, which needs a quorum of nodes.
    const results = await Promise.allSettled(
      specs.map(async (spec) => ({
        spec,
        server: await ServerProcess.start({
          binary,
          args: ["-c", spec.configFile],
          monitorPort: spec.monitorPort,
          label: `nats-server ${spec.name} on 127.0.0.1:${spec.port}`
        })
      }))
    )
    const started = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []))
    const stopAll = async (): Promise<void> => {
      await Promise.all(started.map(({ server }) => server.terminate()))
      await removeTempDir(dir)
    }
    const failure = results.find(isRejected)
    if (failure !== undefined) {
      await stopAll()
      if (attempt >= PORT_ATTEMPTS || !isPortClash(failure.reason)) throw failure.reason
      continue
    }
    const elected = await poll(async () => {
      const leaders = await Promise.all(specs.map((spec) => isMetaLeader(spec.monitorPort).catch(() => false)))
      return leaders.includes(true) ? true : undefined
    }, META_LEADER_TIMEOUT_MS)
    if (elected === undefined) {
      await stopAll()
      throw new NatsServerError({
        reason: `the cluster elected no JetStream meta leader in ${META_LEADER_TIMEOUT_MS} ms`
      })
    }
    const nodes = started.map(({ spec, server }) => nodeHandle(spec, server))
    return {
      get urls() {
        return nodes.map((node) => node.url)
      },
      nodes,
      node: (name) => {
        const node = nodes.find((candidate) => candidate.name === name)
        if (node === undefined)
          throw new NatsServerError({
            reason: `the cluster has no node ${name}; it has ${nodes.map((n) => n.name).join(", ")}`
          })
        return node
      },
      streamLeader: (stream) => streamLeaderOf(nodes, stream),
      stop: stopAll
    }
  }
}

/**
 * Starts a JetStream cluster of `nats-server` processes (three by default) on
 * free ports of 127.0.0.1, one config file and store per node under a fresh
 * temporary directory, and waits until every node is healthy and the cluster
 * has a JetStream meta leader.
 */
export const start = async (options: ClusterOptions = {}): Promise<RunningCluster> => {
  const count = options.nodes ?? 3
  if (!Number.isInteger(count) || count < 1)
    throw new NatsServerError({ reason: `a cluster needs a whole number of nodes, at least 1; got ${count}` })
  const binary = findNatsServer()
  if (binary === undefined) throw new NatsServerError({ reason: `no nats-server executable on ${searchedPlaces}` })
  return startNodes(binary, count)
}

/** {@link start} as an Effect: the cluster is stopped and its files removed when the scope closes. */
export const scoped = (options: ClusterOptions = {}): Effect.Effect<RunningCluster, NatsServerError, Scope.Scope> =>
  Effect.acquireRelease(Effect.tryPromise({ try: () => start(options), catch: toNatsServerError }), (cluster) =>
    Effect.promise(() => cluster.stop())
  )
