/**
 * The status of the transport's connection, read from the client's status events: `"connected"`,
 * `"reconnecting"` (the connection is lost and the client dials the servers again), `"closed"`. It tells its
 * outage listeners (the subscribers) when the connection has been lost for longer than the transport allows.
 *
 * Invariant: the stream gives the current status first, then each change, and completes after `"closed"`,
 * which is final. Outage listeners are told once per loss of the connection, once it has lasted the bound,
 * and only while it lasts.
 *
 * Why one per transport: the client hands each status event to every listener it has; one listener turns
 * them into the port's three states for the transport's status readers and subscribers alike.
 */
import type { QueuedIterator, Status } from "@nats-io/transport-node"
import type { Transport } from "@sluice/core"
import { Effect, Queue, Stream } from "effect"

type Listener = (status: Transport.TransportStatus) => void

/** The longest delay a Node timer takes, in milliseconds; a longer one fires at once. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

export class ConnectionStatus {
  /** How long the connection may stay lost before the outage listeners are told, in milliseconds. */
  readonly outageMillis: number
  #current: Transport.TransportStatus
  /** When the connection was lost, in ms since the epoch, while it is. */
  #lostAt = 0
  #outageTimer: ReturnType<typeof setTimeout> | undefined
  readonly #events: QueuedIterator<Status>
  readonly #listeners = new Set<Listener>()
  readonly #outageListeners = new Set<() => void>()

  /**
   * @param connected Whether the connection is up now.
   * @param events The connection's status events from now on; stopped when the status closes.
   * @param outageMillis How long the connection may stay lost before the outage listeners are told, in
   *   milliseconds; `Infinity` for ever.
   */
  constructor(closed: boolean, connected: boolean, events: QueuedIterator<Status>, outageMillis: number) {
    this.outageMillis = outageMillis
    this.#events = events
    this.#current = "connected"
    this.#set(closed ? "closed" : connected ? "connected" : "reconnecting")
    void this.#follow()
  }

  /** The current status, then each change; it completes after `"closed"`. */
  readonly stream: Stream.Stream<Transport.TransportStatus> = Stream.callback<Transport.TransportStatus>(
    (queue) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const listener: Listener = (status) => {
            Queue.offerUnsafe(queue, status)
            if (status === "closed") Queue.endUnsafe(queue)
          }
          listener(this.#current)
          if (this.#current !== "closed") this.#listeners.add(listener)
          return listener
        }),
        (listener) => Effect.sync(() => this.#listeners.delete(listener))
      ),
    // Changes are rare; a reader that falls far behind keeps the latest ones.
    { bufferSize: 16, strategy: "sliding" }
  )

  /**
   * Calls `listener` once the connection has been lost for `outageMillis` (at once, later in this turn,
   * when it has been already), and again at each later loss that lasts as long. Returns the function
   * that stops it.
   */
  onOutage(listener: () => void): () => void {
    this.#outageListeners.add(listener)
    if (this.#current === "reconnecting" && Date.now() - this.#lostAt >= this.outageMillis)
      queueMicrotask(() => {
        if (this.#outageListeners.has(listener)) listener()
      })
    return () => this.#outageListeners.delete(listener)
  }

  /** The transport closed: the status is `"closed"` for good, and the client's events are no longer read. */
  close(): void {
    this.#set("closed")
  }

  async #follow(): Promise<void> {
    try {
      for await (const event of this.#events) {
        if (event.type === "disconnect" || event.type === "reconnecting") this.#set("reconnecting")
        else if (event.type === "reconnect") this.#set("connected")
        else if (event.type === "close") this.#set("closed")
      }
    } catch {
      // The events end with an error only when the connection closes, which its own event said.
    }
  }

  /** Tells the outage listeners once the loss has lasted `outageMillis`; a timer waits 24.8 days at most. */
  #awaitOutage(): void {
    const left = this.#lostAt + this.outageMillis - Date.now()
    this.#outageTimer = setTimeout(
      () => {
        if (left > MAX_TIMER_MILLIS) return this.#awaitOutage()
        for (const listener of [...this.#outageListeners]) listener()
      },
      Math.min(Math.max(0, left), MAX_TIMER_MILLIS)
    )
    this.#outageTimer.unref()
  }

  #set(status: Transport.TransportStatus): void {
    if (status === this.#current || this.#current === "closed") return
    this.#current = status
    clearTimeout(this.#outageTimer)
    this.#outageTimer = undefined
    if (status === "reconnecting") {
      this.#lostAt = Date.now()
      if (Number.isFinite(this.outageMillis)) this.#awaitOutage()
    }
    for (const listener of [...this.#listeners]) listener(status)
    if (status === "closed") {
      this.#listeners.clear()
      this.#outageListeners.clear()
      this.#events.stop()
    }
  }
}
