/**
 * The status of the transport's connection, read from the client's status events: `"connected"`,
 * `"reconnecting"` (the connection is lost and the client dials the servers again), `"closed"`.
 *
 * Invariant: the stream gives the current status first, then each change, and completes after `"closed"`,
 * which is final.
 *
 * Why one per transport: the client hands each status event to every listener it has; one listener turns
 * them into the port's three states for all the transport's status readers.
 */
import type { QueuedIterator, Status } from "@nats-io/transport-node"
import type { Transport } from "@sluice/core"
import { Effect, Queue, Stream } from "effect"

type Listener = (status: Transport.TransportStatus) => void

export class ConnectionStatus {
  #current: Transport.TransportStatus
  readonly #events: QueuedIterator<Status>
  readonly #listeners = new Set<Listener>()

  /**
   * @param connected Whether the connection is up now.
   * @param events The connection's status events from now on; stopped when the status closes.
   */
  constructor(closed: boolean, connected: boolean, events: QueuedIterator<Status>) {
    this.#events = events
    this.#current = "connected"
    this.#set(closed ? "closed" : connected ? "connected" : "reconnecting")
    void this.#follow()
  }

  get current(): Transport.TransportStatus {
    return this.#current
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

  #set(status: Transport.TransportStatus): void {
    if (status === this.#current || this.#current === "closed") return
    this.#current = status
    for (const listener of [...this.#listeners]) listener(status)
    if (status === "closed") {
      this.#listeners.clear()
      this.#events.stop()
    }
  }
}
