/**
 * A NATS server with JetStream for tests. {@link acquire} takes whatever server there is (NATS_URL, a
 * spawned `nats-server`, a Docker container); {@link start} always spawns one, for tests that kill, pause
 * or restart it.
 *
 * Invariant: a missing server is an error, never a skipped test. Only a server this run spawned can be
 * killed, paused or restarted (the others refuse with a `NatsServerError`), and `stop` leaves a NATS_URL
 * server running.
 *
 * Why: the same tests run on a developer's machine, in CI against its NATS_URL, and in Docker.
 */
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { findNatsServer, searchedPlaces } from "./internal/binary.ts"
import { dockerAvailable, startContainer } from "./internal/container.ts"
import { checkReachable, parseNatsUrl } from "./internal/external.ts"
import { NatsServerError, toNatsServerError } from "./internal/NatsServerError.ts"
import { freePorts, isPortClash } from "./internal/ports.ts"
import { type KillSignal, ServerProcess } from "./internal/ServerProcess.ts"
import { makeTempDir, removeTempDir } from "./internal/tempDir.ts"

export { NatsServerError } from "./internal/NatsServerError.ts"
export type { KillSignal } from "./internal/ServerProcess.ts"

/** How often a start is tried with fresh ports when another process took one of them first. */
const PORT_ATTEMPTS = 3

/** Options of {@link acquire}. */
export interface AcquireOptions {
  /** Enables JetStream. Default true. */
  readonly jetstream?: boolean
}

/** Options of {@link start}. */
export interface StartOptions extends AcquireOptions {
  /** Extra `nats-server` command-line arguments; they override the harness's own. */
  readonly args?: ReadonlyArray<string>
  /** Extra lines of `nats-server` configuration, written to a config file that the arguments override. */
  readonly configText?: string
}

/** Where a server runs: named by NATS_URL, spawned by this test run, or in a Docker container. */
export type ServerKind = "external" | "process" | "container"

/**
 * What `connect()` of `@nats-io/transport-node` needs to reach the server.
 * nats.js ignores credentials in a URL, so a container's (or NATS_URL's)
 * user and password come separately.
 */
export interface ConnectTarget {
  /** The server's URL, as {@link RunningServer.url}. */
  readonly servers: string
  /** The user name a container (or NATS_URL) requires. */
  readonly user?: string
  /** The password a container (or NATS_URL) requires. */
  readonly pass?: string
}

/**
 * A server a test can use. Only a spawned server (`kind` "process") can be
 * killed, paused, resumed or restarted; the others reject those with a
 * {@link NatsServerError}.
 */
export interface RunningServer {
  /** Where the server runs, and so whether a test can control it. */
  readonly kind: ServerKind
  /** `nats://host:port`, without credentials. */
  readonly url: string
  /** The client port. */
  readonly port: number
  /** Pass to `connect()`: `connect(server.connectTarget)`. */
  readonly connectTarget: ConnectTarget
  /** The JetStream store (and config) directory of a spawned server. */
  readonly storeDir: string | undefined
  /** The PID of a spawned server's latest process. */
  readonly pid: number | undefined
  /** Sends `signal` (default SIGKILL) to a spawned server and waits until the process exited. */
  kill(signal?: KillSignal): Promise<void>
  /** Freezes a spawned server with SIGSTOP and waits until it stopped: connections stay open, nothing is answered. */
  pause(): Promise<void>
  /** Lets a paused server go on with SIGCONT. */
  resume(): Promise<void>
  /** Starts a spawned server again with the same port, store and config (stopping it first if it runs); waits until it is ready. */
  restart(): Promise<void>
  /** Ends the server and removes what the harness made for it; does nothing to a NATS_URL server. */
  stop(): Promise<void>
}

/** A server spawned by this test run: it can always be controlled. */
export interface ProcessServer extends RunningServer {
  readonly kind: "process"
  readonly storeDir: string
  readonly pid: number
  /** Whether the latest process has not exited (a paused process runs). */
  readonly running: boolean
}

/** Where a server that this harness does not control is, with its credentials if any. */
interface Address {
  readonly url: string
  readonly port: number
  readonly user?: string
  readonly pass?: string
}

const uncontrolled = (kind: "external" | "container", address: Address, stop: () => Promise<void>): RunningServer => {
  const { url, port, user, pass } = address
  const refuse = (action: string) => () =>
    Promise.reject(
      new NatsServerError({
        reason: `cannot ${action} the ${kind === "external" ? "server of NATS_URL" : "container server"} at ${url}: only a server spawned by NatsServer.start() can be controlled`
      })
    )
  return {
    kind,
    url,
    port,
    connectTarget: { servers: url, ...(user === undefined ? {} : { user }), ...(pass === undefined ? {} : { pass }) },
    storeDir: undefined,
    pid: undefined,
    kill: refuse("kill"),
    pause: refuse("pause"),
    resume: refuse("resume"),
    restart: refuse("restart"),
    stop
  }
}

const startProcess = async (binary: string, options: StartOptions): Promise<ProcessServer> => {
  for (let attempt = 1; ; attempt++) {
    const storeDir = await makeTempDir("sluice-nats-")
    try {
      const ports = await freePorts(2)
      const port = ports.take()
      const monitorPort = ports.take()
      const configFile = join(storeDir, "nats-server.conf")
      if (options.configText !== undefined) await writeFile(configFile, `${options.configText}\n`)
      const server = await ServerProcess.start({
        binary,
        args: [
          ...(options.configText === undefined ? [] : ["-c", configFile]),
          ...["-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort), "-n", `sluice-${port}`],
          ...(options.jetstream === false ? [] : ["-js", "-sd", storeDir]),
          ...(options.args ?? [])
        ],
        monitorPort,
        label: `nats-server on 127.0.0.1:${port}`
      })
      const url = `nats://127.0.0.1:${port}`
      return {
        kind: "process",
        url,
        port,
        connectTarget: { servers: url },
        storeDir,
        get pid() {
          return server.pid
        },
        get running() {
          return server.running
        },
        kill: (signal) => server.kill(signal),
        pause: () => server.pause(),
        resume: async () => server.resume(),
        restart: () => server.restart(),
        stop: async () => {
          await server.terminate()
          await removeTempDir(storeDir)
        }
      }
    } catch (error) {
      await removeTempDir(storeDir)
      if (attempt >= PORT_ATTEMPTS || !isPortClash(error)) throw error
    }
  }
}

/**
 * Spawns a `nats-server` (found on PATH, else /usr/sbin) on free ports of
 * 127.0.0.1, with JetStream in a fresh store directory, and waits until its
 * `/healthz` answers ok. Rejects with a {@link NatsServerError} that ends with
 * the server's own log lines when it does not come up.
 */
export const start = async (options: StartOptions = {}): Promise<ProcessServer> => {
  const binary = findNatsServer()
  if (binary === undefined) throw new NatsServerError({ reason: `no nats-server executable on ${searchedPlaces}` })
  return startProcess(binary, options)
}

/**
 * The server tests should use, the first that exists of: the server named by
 * the NATS_URL environment variable (checked to answer, and to have JetStream
 * unless `jetstream` is false); a spawned `nats-server` as {@link start}; a
 * `nats:2.9-alpine` container when Docker is reachable (needs the optional
 * `@testcontainers/nats`).
 */
export const acquire = async (options: AcquireOptions = {}): Promise<RunningServer> => {
  const jetstream = options.jetstream !== false
  const natsUrl = process.env.NATS_URL ?? ""
  if (natsUrl !== "") {
    const address = parseNatsUrl(natsUrl)
    await checkReachable(address, jetstream)
    return uncontrolled("external", address, async () => {})
  }
  const binary = findNatsServer()
  if (binary !== undefined) return startProcess(binary, options)
  if (dockerAvailable()) {
    const container = await startContainer(jetstream)
    return uncontrolled("container", container, container.stop)
  }
  throw new NatsServerError({
    reason: `no NATS server for the tests: NATS_URL is not set, there is no nats-server executable on ${searchedPlaces}, and Docker is not available (neither DOCKER_HOST nor /var/run/docker.sock); install nats-server or set NATS_URL`
  })
}

const scopedWith = <S extends RunningServer>(
  acquireServer: () => Promise<S>
): Effect.Effect<S, NatsServerError, Scope.Scope> =>
  Effect.acquireRelease(Effect.tryPromise({ try: acquireServer, catch: toNatsServerError }), (server) =>
    Effect.promise(() => server.stop())
  )

/** {@link acquire} as an Effect: the server is stopped when the scope closes. */
export const scoped = (options: AcquireOptions = {}): Effect.Effect<RunningServer, NatsServerError, Scope.Scope> =>
  scopedWith(() => acquire(options))

/** {@link start} as an Effect: the server is stopped and its store removed when the scope closes. */
export const scopedProcess = (options: StartOptions = {}): Effect.Effect<ProcessServer, NatsServerError, Scope.Scope> =>
  scopedWith(() => start(options))
