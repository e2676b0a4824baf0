/**
 * Publishes that await their stream's confirmation, each an entry of its own in the client's request
 * multiplexer (`ClientInternals.requests`): its reply comes through the client's request subscription, with
 * the client's checks (no responders, a permission error, the connection closing).
 *
 * Invariant: every publish is settled exactly once: confirmed with the stream's acknowledgement, failed
 * with the stream's error or the client's, timed out within a tenth of the timeout after it passed, or
 * failed by `close`; once settled it leaves the multiplexer. All publishes wait equally long, so those
 * whose time is up are the oldest: one sweep, every tenth of the timeout, finds them.
 *
 * Why: the client's `js.publish` is an `nc.request` that builds an `Error` as it succeeds and races a timer
 * and a promise of its own per publish; an entry without them costs less CPU ("Where a published message's
 * time goes", bench/README.md).
 */
import { JetStreamApiError, type PubAck } from "@nats-io/jetstream"
import { type Msg, type MsgHdrs, type NatsConnection, TimeoutError } from "@nats-io/transport-node"
import type { MultiplexedRequest, RequestMultiplexer } from "./clientInternals.ts"

/** Publishes kept beyond twice the unsettled ones before they are compacted: compaction is a copy. */
const COMPACT_SLACK = 64

/** The answer JetStream sends to a publish. */
interface PublishAnswer {
  readonly stream?: string
  readonly seq?: number
  readonly duplicate?: boolean
  readonly domain?: string
  readonly error?: ConstructorParameters<typeof JetStreamApiError>[0]
}

const decoder = new TextDecoder()

/** The stream's acknowledgement in a reply; throws the error the stream reports instead. */
const pubAckOf = (reply: Msg): PubAck => {
  const text = decoder.decode(reply.data)
  const answer = JSON.parse(text) as PublishAnswer
  if (answer.error !== undefined) throw new JetStreamApiError(answer.error)
  if (typeof answer.stream !== "string" || answer.stream === "" || typeof answer.seq !== "number")
    throw new Error(`invalid publish acknowledgement: ${text}`)
  return { stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true, domain: answer.domain ?? "" }
}

/** One publish awaiting its confirmation, as the multiplexer sees a request. */
class Confirmation implements MultiplexedRequest {
  /** Kept by the multiplexer. */
  received = 0
  settled = false
  readonly token: string
  readonly requestSubject: string
  /** When it stops waiting, in epoch milliseconds. */
  readonly deadline: number
  readonly #owner: Confirmations
  readonly #mux: RequestMultiplexer["muxSubscriptions"]
  readonly #resolve: (ack: PubAck) => void
  readonly #reject: (error: unknown) => void

  constructor(
    owner: Confirmations,
    mux: RequestMultiplexer["muxSubscriptions"],
    token: string,
    subject: string,
    deadline: number,
    resolve: (ack: PubAck) => void,
    reject: (error: unknown) => void
  ) {
    this.#owner = owner
    this.#mux = mux
    this.token = token
    this.requestSubject = subject
    this.deadline = deadline
    this.#resolve = resolve
    this.#reject = reject
  }

  /** Called by the multiplexer with the reply, or with why there is none. */
  resolver(error: Error | null, reply: Msg): void {
    if (error !== null) this.fail(error)
    else if (this.#settle())
      try {
        this.#resolve(pubAckOf(reply))
      } catch (refused) {
        this.#reject(refused)
      }
  }

  /** Called by the client should it give the request up. */
  cancel(error?: Error): void {
    this.fail(error ?? new Error("the publish was cancelled before it was confirmed"))
  }

  /** Fails it with `error`, unless it is settled already. */
  fail(error: unknown): void {
    if (this.#settle()) this.#reject(error)
  }

  /** Stops waiting: the message may or may not be stored. */
  timeOut(): void {
    this.fail(new TimeoutError())
  }

  /** Marks it settled, once; false when it already was. */
  #settle(): boolean {
    if (this.settled) return false
    this.settled = true
    this.#mux.cancel(this)
    this.#owner.countSettled()
    return true
  }
}

export class Confirmations {
  readonly #connection: NatsConnection
  readonly #requests: RequestMultiplexer
  readonly #timeoutMillis: number
  /** Publishes sent, oldest first; settled ones stay until a sweep or a compaction. */
  #waiting: Array<Confirmation> = []
  /** Publishes not yet settled. */
  #unsettled = 0
  #sent = 0
  #sweeper: ReturnType<typeof setInterval> | undefined

  /**
   * @param requests The connection's request multiplexer (`ClientInternals.requests`).
   * @param timeoutMillis How long a publish waits for its confirmation, in milliseconds.
   */
  constructor(connection: NatsConnection, requests: RequestMultiplexer, timeoutMillis: number) {
    this.#connection = connection
    this.#requests = requests
    this.#timeoutMillis = timeoutMillis
  }

  /**
   * Publishes `payload` to `subject` with `headers` (`Nats-Msg-Id` among them for deduplication). Answers
   * with the stream's acknowledgement; fails with the error the stream reports, with no responders when
   * no stream serves the subject, or with a `TimeoutError` when no answer came in time.
   */
  publish(subject: string, payload: Uint8Array, headers: MsgHdrs): Promise<PubAck> {
    const requests = this.#requests
    return new Promise((resolve, reject) => {
      // An underscore keeps the token apart from the client's own, which are letters and digits.
      const token = `_${(this.#sent++).toString(36)}`
      const deadline = Date.now() + this.#timeoutMillis
      const confirmation = new Confirmation(this, requests.muxSubscriptions, token, subject, deadline, resolve, reject)
      this.#unsettled++
      try {
        requests.request(confirmation)
        this.#connection.publish(subject, payload, { reply: `${requests.muxSubscriptions.baseInbox}${token}`, headers })
      } catch (error) {
        confirmation.fail(error)
        return
      }
      this.#waiting.push(confirmation)
      if (this.#waiting.length > 2 * this.#unsettled + COMPACT_SLACK) this.#compact()
      this.#sweeper ??= this.#startSweeping()
    })
  }

  /**
   * Fails the publishes still waiting and stops looking for those whose time is up; for when the transport
   * closes, which may leave the connection open (a connection the application passed in).
   */
  close(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper)
    this.#sweeper = undefined
    const closed = new Error("the transport was closed before the publish was confirmed")
    for (const confirmation of this.#waiting) confirmation.fail(closed)
    this.#waiting = []
  }

  /** Counts a publish settled. */
  countSettled(): void {
    this.#unsettled--
  }

  #startSweeping(): ReturnType<typeof setInterval> {
    const sweeper = setInterval(() => this.#sweep(), Math.max(1, this.#timeoutMillis / 10))
    sweeper.unref()
    return sweeper
  }

  /** Times out the oldest publishes, as far as their time is up, and drops the settled ones. */
  #sweep(): void {
    const now = Date.now()
    for (const confirmation of this.#waiting) {
      if (confirmation.settled) continue
      if (confirmation.deadline > now) break
      confirmation.timeOut()
    }
    this.#compact()
  }

  #compact(): void {
    this.#waiting = this.#waiting.filter((confirmation) => !confirmation.settled)
  }
}
