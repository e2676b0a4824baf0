/**
 * The pull loop of one subscriber. It keeps pull requests outstanding so that
 * the messages it holds (received and not yet settled) plus those it asked for
 * never exceed `maxInFlight`: the member's in-flight bound is exact on the
 * client, whatever the consumer's `max_ack_pending` says. Each pull expires and
 * asks for idle heartbeats, so a pull lost in a server restart or a leader
 * change is noticed within two heartbeats and made again.
 *
 * JetStream (2.9) cannot cancel a pull, and mishandles a redelivery it sends
 * to a pull whose inbox lost its subscriber: the message is lost until its ack
 * wait, and the consumer re-sends a newer message as new (a duplicate). So
 * `stop` unsubscribes every pull at once (new messages then go elsewhere), and
 * tells until when its pulls may linger at the server: a nak sent before then
 * would reach one of them.
 */
import type { ConsumeCallback, Consumer, ConsumerMessages, FetchMessages, JsMsg } from "@nats-io/jetstream"

/** The server times a pull from when it gets it, a little after it was sent: allow for that, in milliseconds. */
const LINGER_MARGIN_MILLIS = 500

export interface PullerOptions {
  /** Most messages held unsettled, a count. */
  readonly maxInFlight: number
  /** Most messages asked for by one pull, a count. */
  readonly batch: number
  /** How long a pull waits for messages before the server ends it, in milliseconds. */
  readonly expiresMillis: number
  /** How often the server signals that a waiting pull is alive, in milliseconds. */
  readonly heartbeatMillis: number
  /** Pause after a failed pull before the next one, in milliseconds. */
  readonly retryMillis: number
}

/** A message the puller holds until it is settled or its ack wait passed. */
export interface Held {
  /** When the server will deliver the message again unless it is settled or worked on, in ms since the epoch. */
  deadline: number
  /** Settled or given up: it no longer counts against the bound. */
  released: boolean
}

export class Puller {
  readonly #consumer: Consumer
  readonly #options: PullerOptions
  readonly #receive: (message: JsMsg) => Held
  readonly #recover: (error: unknown) => Promise<boolean>
  readonly #held = new Set<Held>()
  readonly #pulls = new Set<ConsumerMessages>()
  /** When the latest pull was asked for, in ms since the epoch. */
  #lastPullAt = 0
  #requested = 0
  #running = true
  #sweeper: ReturnType<typeof setInterval> | undefined

  /**
   * @param receive Takes a message the server delivered, and returns its hold.
   * @param recover Decides after a failed pull: resolve true to pull again, false to stop.
   * @param sweepMillis How often holds whose ack wait passed are released, in milliseconds.
   */
  constructor(
    consumer: Consumer,
    options: PullerOptions,
    receive: (message: JsMsg) => Held,
    recover: (error: unknown) => Promise<boolean>,
    sweepMillis: number
  ) {
    this.#consumer = consumer
    this.#options = options
    this.#receive = receive
    this.#recover = recover
    this.#sweeper = setInterval(() => this.#sweep(), sweepMillis)
    this.#sweeper.unref()
    this.#pump()
  }

  /** A held message was settled: it leaves the bound, and the puller may ask for more. */
  release(held: Held): void {
    if (held.released) return
    held.released = true
    this.#held.delete(held)
    this.#pump()
  }

  /**
   * Stops pulling. Returns when the server will have forgotten this puller's pulls, in ms since the epoch;
   * a message handed back with a nak before then may be lost to one of them until its ack wait.
   */
  stop(): number {
    this.#running = false
    clearInterval(this.#sweeper)
    for (const pull of this.#pulls) pull.stop()
    return this.#lastPullAt + this.#options.expiresMillis + LINGER_MARGIN_MILLIS
  }

  /** The server redelivers a message whose ack wait passed, so it no longer counts against this member. */
  #sweep(): void {
    const now = Date.now()
    let freed = false
    for (const held of this.#held) {
      if (held.deadline <= now) {
        held.released = true
        this.#held.delete(held)
        freed = true
      }
    }
    if (freed) this.#pump()
  }

  #pump(): void {
    const { maxInFlight, batch } = this.#options
    const size = Math.min(batch, maxInFlight)
    // Ask again once half a pull's worth is free, so that a pull is in flight while messages are processed.
    const threshold = Math.max(1, Math.floor(size / 2))
    while (this.#running) {
      const free = maxInFlight - this.#held.size - this.#requested
      const want = Math.min(free, size)
      if (want <= 0 || (this.#requested > 0 && want < threshold)) return
      this.#requested += want
      void this.#pull(want)
    }
  }

  async #pull(want: number): Promise<void> {
    let received = 0
    let failure: { readonly error: unknown } | undefined
    try {
      this.#lastPullAt = Date.now()
      // A callback, not an iterator: each message is taken as the client parses it, without a promise
      // turn of its own. The client supports it on `fetch` as on `consume`, though only `consume` types it.
      const options: FetchMessages & ConsumeCallback = {
        max_messages: want,
        expires: this.#options.expiresMillis,
        idle_heartbeat: this.#options.heartbeatMillis,
        callback: (message) => {
          // After a reconnect the client asks again for a whole pull: what comes beyond it was never counted.
          if (++received <= want) this.#requested--
          if (this.#running) this.#held.add(this.#receive(message))
          else message.nak()
        }
      }
      const pull = await this.#consumer.fetch(options)
      this.#pulls.add(pull)
      if (!this.#running) pull.stop()
      try {
        const error = await pull.closed()
        if (error) throw error
      } finally {
        this.#pulls.delete(pull)
      }
    } catch (error) {
      failure = { error }
    }
    this.#requested -= Math.max(0, want - received)
    if (failure !== undefined && this.#running) {
      const again = await this.#recover(failure.error)
      if (!again) {
        this.stop()
        return
      }
      await new Promise((resolve) => setTimeout(resolve, this.#options.retryMillis))
    }
    this.#pump()
  }
}
