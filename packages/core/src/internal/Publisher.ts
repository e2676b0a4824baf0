/**
 * Publishing typed values: each value encoded with its topic's codec into a record (id, key, headers,
 * payload), and the batch sent to the transport.
 *
 * Invariant: headers Sluice writes itself are refused; a publish that met a transient failure is retried
 * under the same ids, so that a retry is never stored twice, until `publishTimeout` is up.
 *
 * Why: retrying with new ids would store a message twice whenever a confirmation was lost.
 */
import { type Clock, Duration, Effect, Result, type Schedule } from "effect"
import type { PublishOptions } from "../Bus.ts"
import {
  type BusPublishError,
  EncodeError,
  type InvalidName,
  isTransient,
  type PublishError,
  TransportUnavailable
} from "../errors.ts"
import type { Topic } from "../Topic.ts"
import type { OutgoingRecord, PublishReceipt, Transport } from "../Transport.ts"
import type { EnsuredTopics } from "./EnsuredTopics.ts"
import { nextMessageId } from "./ids.ts"
import { validatePublishedHeaders } from "./names.ts"

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})

export class Publisher {
  readonly #transport: Transport
  readonly #topics: EnsuredTopics
  readonly #retry: Schedule.Schedule<unknown, PublishError>
  readonly #timeout: Duration.Duration

  /**
   * @param retry How a publish that met a transient failure (`TransportUnavailable`, or a batch stored in part
   *   because of one) is retried.
   * @param timeout How long a publish may take with its retries; each attempt is bounded by the transport.
   */
  constructor(
    transport: Transport,
    topics: EnsuredTopics,
    retry: Schedule.Schedule<unknown, PublishError>,
    timeout: Duration.Duration
  ) {
    this.#transport = transport
    this.#topics = topics
    this.#retry = retry
    this.#timeout = timeout
  }

  /** Publishes one value and waits for the broker's confirmation. */
  publish<A>(topic: Topic<A>, value: A, options?: PublishOptions): Effect.Effect<PublishReceipt, BusPublishError> {
    return Effect.suspend((): Effect.Effect<PublishReceipt, BusPublishError> => {
      const refused = refusedHeaders(options)
      if (refused !== undefined) return Effect.fail(refused)
      const record = recordOf(topic, value, options)
      if (record instanceof EncodeError) return Effect.fail(record)
      return Effect.map(this.#send(topic, [record]), (receipts) => receipts[0] as PublishReceipt)
    })
  }

  /** Publishes values in one batch and waits for every confirmation, in order. */
  publishAll<A>(
    topic: Topic<A>,
    values: Iterable<A>,
    options?: Pick<PublishOptions, "headers">
  ): Effect.Effect<ReadonlyArray<PublishReceipt>, BusPublishError> {
    return Effect.suspend((): Effect.Effect<ReadonlyArray<PublishReceipt>, BusPublishError> => {
      const refused = refusedHeaders(options)
      if (refused !== undefined) return Effect.fail(refused)
      const records: Array<OutgoingRecord> = []
      for (const value of values) {
        const record = recordOf(topic, value, options)
        if (record instanceof EncodeError) return Effect.fail(record)
        records.push(record)
      }
      return records.length === 0 ? Effect.succeed([]) : this.#send(topic, records)
    })
  }

  #send<A>(topic: Topic<A>, records: ReadonlyArray<OutgoingRecord>) {
    const attempt = Effect.andThen(this.#topics.ensure(topic.config), this.#transport.publish(records))
    // Starting `Effect.retry`, or a timeout, costs a few microseconds, as much as the rest of a publish: they
    // start only once the first attempt met a transient error, which the retry is then given as its first
    // failure. The first attempt is bounded by the transport; only the clock is read before it.
    return Effect.clockWith((clock) => {
      const startedAt = clock.currentTimeMillisUnsafe()
      return Effect.catchIf(attempt, isTransient, (first) => this.#retried(attempt, first, startedAt, clock))
    })
  }

  /** Retries `attempt`, which failed with `first`, until it succeeds, the schedule ends, or the time is up. */
  #retried(
    attempt: Effect.Effect<ReadonlyArray<PublishReceipt>, PublishError>,
    first: PublishError,
    startedAt: number,
    clock: Clock.Clock
  ): Effect.Effect<ReadonlyArray<PublishReceipt>, PublishError> {
    let last = first
    let replayed = false
    const again = Effect.suspend(() => {
      if (replayed) return attempt
      replayed = true
      return Effect.fail(first)
    }).pipe(
      Effect.tapError((error) =>
        Effect.sync(() => {
          if (isTransient(error)) last = error
        })
      )
    )
    // A batch stored in part is sent again whole, under the same ids: what was stored is confirmed as a duplicate.
    const retried = Effect.retry(again, { schedule: this.#retry, while: isTransient })
    const timeoutMillis = Duration.toMillis(this.#timeout)
    if (!Number.isFinite(timeoutMillis)) return retried
    const notConfirmed = () =>
      new TransportUnavailable({
        operation: "publish",
        reason: `not confirmed within ${Duration.format(this.#timeout)} (publishTimeout), so it may or may not be stored: publish it again with the same id; the last attempt failed with: ${last.message}`,
        cause: last
      })
    const left = startedAt + timeoutMillis - clock.currentTimeMillisUnsafe()
    if (left <= 0) return Effect.fail(notConfirmed())
    return Effect.timeoutOrElse(retried, { duration: Duration.millis(left), orElse: () => Effect.fail(notConfirmed()) })
  }
}

/** The record of one value: encoded, with its id (the caller's, the topic's, or a new unique one), key and headers. */
const recordOf = <A>(topic: Topic<A>, value: A, options: PublishOptions | undefined): OutgoingRecord | EncodeError => {
  const payload = topic.codec.encode(value)
  if (Result.isFailure(payload)) return new EncodeError({ topic: topic.name, reason: payload.failure })
  const id = options?.id ?? topic.id?.(value)
  // A plain union, not a Result: this runs once per message, and every allocation counts.
  return {
    topic: topic.name,
    id: id ?? nextMessageId(),
    dedup: id !== undefined,
    key: options?.key ?? topic.key?.(value),
    headers: options?.headers ?? NO_HEADERS,
    payload: payload.success
  }
}

/** Headers a publish may not carry, checked once per call: the transport checks the rest. */
const refusedHeaders = (options: Pick<PublishOptions, "headers"> | undefined): InvalidName | undefined => {
  if (options?.headers === undefined) return undefined
  const headers = validatePublishedHeaders(options.headers)
  return Result.isFailure(headers) ? headers.failure : undefined
}
