/**
 * The pull loop of one subscriber: it keeps pull requests outstanding and hands each message the server
 * delivers to the subscriber.
 *
 * Invariant: the messages it holds (received and not yet settled) plus those it asked for never exceed
 * `maxInFlight`, so a member's in-flight bound is exact on the client, whatever the consumer's
 * `max_ack_pending` says. Each pull expires and asks for idle heartbeats, so a pull lost in a server
 * restart or a leader change is noticed within two heartbeats; it is made again once it would have expired,
 * in case it was only delayed and still waits at the server.
 *
 * Every pull answers to one inbox subscription, made once: a pull costs one publish, written after the acks
 * of the same turn (the command buffer keeps their order, so the server frees what they settle before it
 * serves the pull). JetStream (2.9) cannot cancel a pull, and mishandles a redelivery it sends to a pull
 * whose inbox lost its subscriber: the message is lost until its ack wait, and the consumer re-sends a newer
 * message as new (a duplicate); a pull still waiting there takes any message, new or redelivered, including
 * one another member handed back. So the inbox stays subscribed while the subscriber runs, and after `stop`
 * until its pulls are gone (answered in full, ended, or expired): what reaches it then goes to `late`, to be
 * handed back once they are gone, when no pull of this puller can take it again.
 *
 * Why one inbox: the client's `fetch` subscribes and unsubscribes an inbox of its own for each pull, two more
 * writes per pull and interest that the server (and a cluster's routes) must track.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node"
import type { CommandBuffer } from "./CommandBuffer.ts"
import { replyOf } from "./clientInternals.ts"
import { nanos } from "./durations.ts"
import type { PullSettings } from "./pullSettings.ts"

/** The server times a pull from when it gets it, a little after it was sent: allow for that, in milliseconds. */
const LINGER_MARGIN_MILLIS = 500
/** Watchdog ticks in a row without a word from the server that mean the outstanding pulls are gone. */
const MISSED_HEARTBEATS = 2
/** The status of a waiting pull's heartbeat. */
const HEARTBEAT = 100
/** Released holds kept beyond the number still held before they are dropped, a count. */
const COMPACT_SLACK = 64
/** The header of a pull's end (expired, or cut short) that says how many of its messages it did not deliver. */
const PENDING_MESSAGES = "Nats-Pending-Messages"

export interface PullerOptions extends PullSettings {
  /** Most messages held unsettled, a count. */
  readonly maxInFlight: number
  /** Pause after failed pulls before the next one, in milliseconds. */
  readonly retryMillis: number
}

/** A message the puller holds until it is settled or its ack wait passed. */
export interface Held {
  /** When the server will deliver the message again unless it is settled or worked on, in ms since the epoch. */
  deadline: number
  /** Settled or given up: it no longer counts against the bound. */
  released: boolean
}

/** Why the outstanding pulls were given up. */
class PullFailed extends Error {
  override readonly name = "PullFailed"
}

/** The inbox subscription ended without `stop` (the connection closed, or the server refused it): nothing more can arrive. */
export class InboxClosed extends Error {
  override readonly name = "InboxClosed"
}

export class Puller {
  readonly #commands: CommandBuffer
  /** The JetStream API subject a pull is published to. */
  readonly #pullSubject: string
  readonly #options: PullerOptions
  readonly #receive: (message: Msg, reply: Uint8Array) => Held | undefined
  readonly #late: (message: Msg, reply: Uint8Array) => void
  readonly #recover: (error: unknown) => Promise<boolean>
  /**
   * What it holds, in the order received, and how many of them are not released. Released ones leave
   * at the next sweep, or once they are the majority: a `Held` keeps no message alive, and marking one
   * costs less than a `Set`'s hashing, twice per message.
   */
  #held: Array<Held> = []
  #holding = 0
  readonly #inboxPrefix: string
  readonly #subscription: Subscription
  readonly #timers: ReadonlyArray<ReturnType<typeof setInterval>>
  /** A pull's JSON up to its batch size, which ends it. */
  readonly #pullRequest: string
  /**
   * Where the current pulls answer. It changes when pulls are given up, so that the end of one of those,
   * which the server may still send, is not taken for the end of a later pull.
   */
  #inbox: string
  #inboxes = 0
  /** When the latest pull was asked for, in ms since the epoch. */
  #lastPullAt = 0
  /** Messages asked for and not yet delivered. */
  #requested = 0
  /** The server sent something since the watchdog's last tick, or a pull was just made. */
  #heard = false
  #missedHeartbeats = 0
  /** Pulls were given up; no new pull until `recover` answered and the old ones are gone. */
  #recovering = false
  #running = true
  /** Until when pulls given up after a failure may still wait at the server, in ms since the epoch. */
  #givenUpUntil = 0
  /** Resolves once the stopped puller's pulls are gone. */
  readonly #gone: Promise<void>
  #resolveGone: () => void = () => {}
  /** Set while stopped and waiting for the pulls to be gone: cancels the wait for their expiry. */
  #whenGone: (() => void) | undefined

  /**
   * @param pullSubject The consumer's `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` subject.
   * @param inboxPrefix The connection's inbox prefix, when it has one of its own.
   * @param receive Takes a message the server delivered, with its reply subject, and returns its hold;
   *   `undefined` when it is no delivery.
   * @param late Takes a message the server delivered after `stop`, with its reply subject.
   * @param recover Decides after failed pulls: resolve true to pull again, false to stop. Given an
   *   {@link InboxClosed}, it must stop.
   * @param sweepMillis How often holds whose ack wait passed are released, in milliseconds.
   */
  constructor(
    connection: NatsConnection,
    commands: CommandBuffer,
    pullSubject: string,
    inboxPrefix: string | undefined,
    options: PullerOptions,
    receive: (message: Msg, reply: Uint8Array) => Held | undefined,
    late: (message: Msg, reply: Uint8Array) => void,
    recover: (error: unknown) => Promise<boolean>,
    sweepMillis: number
  ) {
    this.#gone = new Promise((resolve) => {
      this.#resolveGone = resolve
    })
    this.#commands = commands
    this.#pullSubject = pullSubject
    this.#options = options
    this.#receive = receive
    this.#late = late
    this.#recover = recover
    this.#pullRequest = `{"expires":${nanos(options.expiresMillis)},"idle_heartbeat":${nanos(options.heartbeatMillis)},"batch":`
    this.#inboxPrefix = createInbox(inboxPrefix)
    this.#inbox = `${this.#inboxPrefix}.0`
    this.#subscription = connection.subscribe(`${this.#inboxPrefix}.*`, {
      // An error here is the server refusing the subscription (permissions): it ends it. So does a message
      // this puller cannot read, rather than an exception inside the client.
      callback: (error, message) => {
        if (error) return this.#inboxClosed(error)
        try {
          this.#onMessage(message)
        } catch (unreadable) {
          this.#inboxClosed(unreadable)
        }
      }
    })
    // It closes when `stop` unsubscribes it, with the connection, or when the server refuses it.
    const closed = (error: unknown) => this.#inboxClosed(error)
    void this.#subscription.closed.then(closed, closed)
    const sweeper = setInterval(() => this.#sweep(), sweepMillis)
    const watchdog = setInterval(() => this.#checkHeartbeats(), options.heartbeatMillis)
    sweeper.unref()
    watchdog.unref()
    this.#timers = [sweeper, watchdog]
    this.#pump()
  }

  /** A held message was settled: it leaves the bound, and the puller may ask for more. */
  release(held: Held): void {
    if (held.released) return
    held.released = true
    this.#holding--
    if (this.#held.length > 2 * this.#holding + COMPACT_SLACK) this.#compact()
    this.#pump()
  }

  /**
   * Stops pulling. Resolves once the server has no pull of this puller left (answered in full, ended, or
   * expired): a message handed back with a nak before then may be taken by one of them. Until then the
   * inbox stays subscribed, and what reaches it goes to `late`.
   */
  stop(): Promise<void> {
    if (this.#running) {
      this.#running = false
      for (const timer of this.#timers) clearInterval(timer)
      const expired = setTimeout(() => this.#pullsGone(), Math.max(0, this.#pullsGoneAt() - Date.now()))
      expired.unref()
      this.#whenGone = () => clearTimeout(expired)
      this.#checkGone()
    }
    return this.#gone
  }

  #pullsGoneAt(): number {
    return this.#lastPullAt + this.#options.expiresMillis + LINGER_MARGIN_MILLIS
  }

  /** Stopped, every pull answered, none given up that may still wait at the server: they are gone. */
  #checkGone(): void {
    if (!this.#running && this.#requested === 0 && Date.now() >= this.#givenUpUntil) this.#pullsGone()
  }

  #pullsGone(): void {
    if (this.#whenGone === undefined) return
    this.#whenGone()
    this.#whenGone = undefined
    this.#subscription.unsubscribe()
    this.#resolveGone()
  }

  #onMessage(message: Msg): void {
    this.#heard = true
    // A delivery carries its ack subject as its reply; a pull's status (heartbeat, end) comes to the pull's
    // inbox with none. The reply is read anyway, as bytes: the subject, read instead, would be decoded.
    const reply = replyOf(message)
    if (reply !== undefined) {
      if (this.#requested > 0) this.#requested--
      if (!this.#running) {
        this.#late(message, reply)
        this.#checkGone()
        return
      }
      const held = this.#receive(message, reply)
      if (held !== undefined) {
        this.#held.push(held)
        this.#holding++
      }
      // Every pull is answered: what is free, even short of the threshold, may be asked for now.
      if (this.#requested === 0) this.#pump()
      return
    }
    const code = message.headers?.code ?? 0
    if (code === HEARTBEAT || message.subject !== this.#inbox) return
    const undelivered = Number.parseInt(message.headers?.get(PENDING_MESSAGES) ?? "", 10)
    if (Number.isNaN(undelivered)) {
      // Refused, or ended without saying what it did not deliver (consumer deleted, a limit exceeded).
      const reason = `${code} ${message.headers?.description ?? ""}`.trim()
      this.#failed(new PullFailed(`the server ended a pull: ${reason}`))
      return
    }
    this.#requested = Math.max(0, this.#requested - undelivered)
    if (this.#running) this.#pump()
    else this.#checkGone()
  }

  /** Pulls are outstanding and the server went silent: they are gone (server restart, leader change). */
  #checkHeartbeats(): void {
    if (this.#heard || this.#requested === 0 || this.#recovering) {
      this.#heard = false
      this.#missedHeartbeats = 0
      return
    }
    if (++this.#missedHeartbeats >= MISSED_HEARTBEATS) this.#failed(new PullFailed("heartbeats missed"))
  }

  /** Nothing more can arrive: the subscriber ends, whatever recovery is under way. */
  #inboxClosed(cause: unknown): void {
    if (!this.#running) {
      this.#pullsGone()
      return
    }
    this.#recovering = true
    const reason = cause instanceof Error ? `: ${cause.message}` : ""
    const stop = () => this.stop()
    this.#recover(new InboxClosed(`the pulls' inbox closed${reason}`)).then(stop, stop)
  }

  /** Gives the outstanding pulls up, and pulls again once `recover` says so and they are gone. */
  #failed(error: unknown): void {
    if (!this.#running || this.#recovering) return
    this.#recovering = true
    this.#givenUpUntil = this.#pullsGoneAt()
    this.#requested = 0
    this.#missedHeartbeats = 0
    this.#inbox = `${this.#inboxPrefix}.${++this.#inboxes}`
    this.#recover(error).then(
      (again) => {
        if (!again) {
          this.stop()
          return
        }
        // A pull given up may still be waiting at the server (one that only went quiet): what it
        // delivered on top of new pulls would exceed the bound.
        const wait = Math.max(this.#options.retryMillis, this.#pullsGoneAt() - Date.now())
        // Unref'd: a stopped puller's pending retry must not keep the process alive.
        setTimeout(() => {
          this.#recovering = false
          this.#pump()
        }, wait).unref()
      },
      () => this.stop()
    )
  }

  /** The server redelivers a message whose ack wait passed, so it no longer counts against this member. */
  #sweep(): void {
    const now = Date.now()
    let freed = false
    for (const held of this.#held) {
      if (!held.released && held.deadline <= now) {
        held.released = true
        this.#holding--
        freed = true
      }
    }
    this.#compact()
    if (freed) this.#pump()
  }

  #compact(): void {
    this.#held = this.#held.filter((held) => !held.released)
  }

  #pump(): void {
    const { maxInFlight, batch } = this.#options
    const size = Math.min(batch, maxInFlight)
    // Ask again once half a pull's worth is free, so that a pull is in flight while messages are processed.
    const threshold = Math.max(1, Math.floor(size / 2))
    while (this.#running && !this.#recovering) {
      const free = maxInFlight - this.#holding - this.#requested
      const want = Math.min(free, size)
      if (want <= 0 || (this.#requested > 0 && want < threshold)) return
      this.#requested += want
      this.#lastPullAt = Date.now()
      // The server's first heartbeat comes a heartbeat from now: the watchdog counts from here.
      this.#heard = true
      try {
        this.#commands.publish(this.#pullSubject, `${this.#pullRequest}${want}}`, this.#inbox)
      } catch (error) {
        this.#failed(error)
        return
      }
    }
  }
}
