/**
 * A nats-server child process that a test can kill, pause, resume and start again with the same arguments.
 *
 * Invariant: it is signalled only through the handle of the child it spawned, never by a PID of its own
 * choosing, and SIGKILLed when Node exits; a start returns only once the server reports itself healthy.
 *
 * Why: a PID may be reused once the child exited; the child's handle never reaches another process.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Socket } from "node:net"
import { setTimeout as sleep } from "node:timers/promises"
import { killAtExit } from "./exitCleanup.ts"
import { isHealthy } from "./monitor.ts"
import { NatsServerError } from "./NatsServerError.ts"
import { poll } from "./poll.ts"
import { isStopped } from "./processState.ts"
import { ServerLog } from "./ServerLog.ts"

/** The signals that end a nats-server: SIGKILL at once, SIGTERM and SIGINT after a clean shutdown. */
export type KillSignal = "SIGKILL" | "SIGTERM" | "SIGINT"

/**
 * How long a start waits for the server to report itself healthy, in milliseconds. A cluster node restarted
 * on a busy machine reports healthy only once all its streams caught up, which took over 20 s once here.
 */
const READY_TIMEOUT_MS = 60_000
/** How long a stop waits after SIGTERM before it sends SIGKILL, in milliseconds. */
const TERMINATE_GRACE_MS = 5_000
/** How long a kill waits for the process to exit after its signal, in milliseconds. */
const EXIT_TIMEOUT_MS = 10_000
/** How long a pause waits for every thread of the process to stop, in milliseconds. */
const STOP_TIMEOUT_MS = 2_000

/** Everything needed to start the same server again. */
export interface Launch {
  /** The nats-server executable. */
  readonly binary: string
  /** Its command-line arguments, the same on every start. */
  readonly args: ReadonlyArray<string>
  /** The server's HTTP monitoring port on 127.0.0.1; its `/healthz` tells when the server is ready. */
  readonly monitorPort: number
  /** Names the server in error messages. */
  readonly label: string
}

/** Whether `promise` settles within `ms` milliseconds; the timer keeps Node alive meanwhile. */
const settlesWithin = async (promise: Promise<unknown>, ms: number): Promise<boolean> => {
  const timer = new AbortController()
  const settled = await Promise.race([
    promise.then(() => true),
    sleep(ms, false, { signal: timer.signal }).catch(() => false)
  ])
  timer.abort()
  return settled
}

/**
 * One server started from a {@link Launch}, again after every restart. It is
 * signalled only through the handle of the child it spawned, and SIGKILLed
 * when Node exits. The child does not keep Node alive by itself: every wait
 * on it runs a timer.
 */
export class ServerProcess {
  readonly #launch: Launch
  #child: ChildProcess
  #log: ServerLog
  #closed: Promise<void>
  #alive = true
  #paused = false

  private constructor(launch: Launch) {
    this.#launch = launch
    this.#log = new ServerLog()
    this.#child = this.#spawn()
    this.#closed = this.#closedPromise()
  }

  /** Starts the server and waits until it is ready; a server that is not ready in time is killed. */
  static async start(launch: Launch): Promise<ServerProcess> {
    const server = new ServerProcess(launch)
    await server.#waitUntilReady()
    return server
  }

  /** The PID of the latest process, which may have exited since. */
  get pid(): number {
    return this.#child.pid ?? -1
  }

  /** Whether the latest process has not exited yet (it may be paused). */
  get running(): boolean {
    return this.#alive
  }

  /** Whether the process is stopped by {@link pause}. */
  get paused(): boolean {
    return this.#paused
  }

  /** Sends `signal` and waits until the process exited; nothing when it is not running. */
  async kill(signal: KillSignal = "SIGKILL"): Promise<void> {
    if (!this.#alive) return
    this.#child.kill(signal)
    if (this.#paused && signal !== "SIGKILL") this.#child.kill("SIGCONT")
    if (!(await settlesWithin(this.#closed, EXIT_TIMEOUT_MS)))
      throw this.#error(`did not exit within ${EXIT_TIMEOUT_MS} ms of ${signal}`)
  }

  /** Freezes the process with SIGSTOP and waits until it stopped: its connections stay open, nothing is answered. */
  async pause(): Promise<void> {
    this.#requireRunning("pause")
    this.#child.kill("SIGSTOP")
    this.#paused = true
    if ((await poll(async () => ((await isStopped(this.pid)) ? true : undefined), STOP_TIMEOUT_MS, 5)) === undefined)
      throw this.#error(`did not stop within ${STOP_TIMEOUT_MS} ms of SIGSTOP`)
  }

  /** Lets a paused process go on with SIGCONT. */
  resume(): void {
    this.#requireRunning("resume")
    this.#child.kill("SIGCONT")
    this.#paused = false
  }

  /** SIGTERM, then SIGKILL when the server has not exited after a grace period; waits until it exited. */
  async terminate(): Promise<void> {
    if (!this.#alive) return
    this.#child.kill("SIGTERM")
    if (this.#paused) this.#child.kill("SIGCONT")
    if (await settlesWithin(this.#closed, TERMINATE_GRACE_MS)) return
    await this.kill("SIGKILL")
  }

  /** Stops the process if it runs, starts it again with the same arguments and waits until it is ready. */
  async restart(): Promise<void> {
    await this.terminate()
    this.#log = new ServerLog()
    this.#child = this.#spawn()
    this.#closed = this.#closedPromise()
    await this.#waitUntilReady()
  }

  #spawn(): ChildProcess {
    const child = spawn(this.#launch.binary, this.#launch.args, { stdio: ["ignore", "ignore", "pipe"] })
    this.#alive = true
    this.#paused = false
    killAtExit(child)
    child.unref()
    if (child.stderr instanceof Socket) child.stderr.unref()
    child.stderr?.setEncoding("utf8")
    child.stderr?.on("data", (chunk: string) => this.#log.write(chunk))
    return child
  }

  /** Settles once the latest process exited and its stderr is read to the end (or it never started). */
  #closedPromise(): Promise<void> {
    const child = this.#child
    return new Promise((resolve) => {
      const done = (): void => {
        if (child === this.#child) {
          this.#alive = false
          this.#paused = false
        }
        resolve()
      }
      child.once("close", done)
      child.once("error", (error) => {
        this.#log.write(`${error.message}\n`)
        done()
      })
    })
  }

  async #waitUntilReady(): Promise<void> {
    const outcome = await poll(
      async () => (!this.#alive ? "exited" : (await isHealthy(this.#launch.monitorPort)) ? "ready" : undefined),
      READY_TIMEOUT_MS
    )
    if (outcome === "ready") return
    if (outcome === "exited") {
      throw this.#error(`exited (${this.#exitStatus()}) before it was ready`)
    }
    await this.kill("SIGKILL")
    throw this.#error(`was not ready within ${READY_TIMEOUT_MS} ms (its /healthz never answered ok)`)
  }

  #exitStatus(): string {
    const { exitCode, signalCode } = this.#child
    return signalCode !== null ? `signal ${signalCode}` : exitCode !== null ? `code ${exitCode}` : "did not start"
  }

  #requireRunning(action: string): void {
    if (!this.#alive)
      throw new NatsServerError({
        reason: `cannot ${action} ${this.#launch.label}: its process ${this.pid} has exited (${this.#exitStatus()})`
      })
  }

  #error(what: string): NatsServerError {
    return new NatsServerError({
      reason: `${this.#launch.label} (pid ${this.pid}) ${what}\n--- its stderr ---\n${this.#log.excerpt()}`
    })
  }
}
