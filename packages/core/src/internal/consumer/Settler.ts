/**
 * The one place where what became of a message in a consumer (its outcome) turns into what the broker is
 * told: ack, retry after a delay (a failed attempt), nak (a hand-back), or a dead letter followed by an ack.
 *
 * Invariant: every message a consumer takes ends here exactly once, and nothing here fails: a settlement
 * the broker did not take is logged, and the broker's ack wait brings the message back; a dead letter that
 * cannot be stored leaves the message with the broker.
 *
 * Why: a reader finds "what happens to a message" in one function.
 */
import { Cause, Clock, Duration, Effect, Exit, Option } from "effect"
import * as DeadLetter from "../../DeadLetter.ts"
import { messageFields, oneLine } from "../../Logging.ts"
import type { Delivery, Transport } from "../../Transport.ts"

/** What became of a message in a consumer. */
export type Outcome =
  /** The handler succeeded. */
  | { readonly _tag: "Succeeded" }
  /** The handler settled the message itself (ack, nak or term): the runtime adds nothing. */
  | { readonly _tag: "SettledByHandler" }
  /** The handler failed or died, on its attempt `attempt`. */
  | { readonly _tag: "Failed"; readonly cause: Cause.Cause<unknown>; readonly attempt: number }
  /** The handler was interrupted (the consumer is stopping), or never started: the message goes back at once. */
  | { readonly _tag: "HandedBack" }
  /** The payload does not decode with the topic's codec. */
  | { readonly _tag: "Undecodable"; readonly reason: string }
  /** So many earlier deliveries ended without an outcome (crashes, overrun ack waits) that it is not handled again. */
  | { readonly _tag: "Abandoned"; readonly abandoned: number; readonly failures: number }

export const Succeeded: Outcome = { _tag: "Succeeded" }
export const SettledByHandler: Outcome = { _tag: "SettledByHandler" }
export const HandedBack: Outcome = { _tag: "HandedBack" }

/** The default redelivery delay: 1 s doubling per attempt, at most 1 minute. */
export const defaultRedeliveryDelay = (attempt: number): Duration.Input => Math.min(1000 * 2 ** (attempt - 1), 60_000)

/** How a consumer settles: its topic, its group, and its retry policy. */
export interface SettlerOptions {
  readonly transport: Transport
  /** The topic consumed. */
  readonly topic: string
  /** Where its dead letters go. */
  readonly deadLetterTopic: string
  /** The group, `undefined` for a broadcast subscription. */
  readonly group: string | undefined
  /** The attempt from which a handler failure dead-letters the message. */
  readonly maxAttempts: number
  /** Delay before a failed message is delivered again, by attempt. */
  readonly redeliveryDelay: (attempt: number) => Duration.Input
}

const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  return oneLine(failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure))
}

export class Settler {
  readonly #options: SettlerOptions

  constructor(options: SettlerOptions) {
    this.#options = options
  }

  /** Tells the broker what became of `delivery`. Never fails: a settlement the broker did not take is logged. */
  settle(delivery: Delivery, outcome: Outcome): Effect.Effect<void> {
    const { maxAttempts, redeliveryDelay } = this.#options
    switch (outcome._tag) {
      case "Succeeded":
        return this.#logged(delivery, "ack", delivery.ack)
      case "SettledByHandler":
        return Effect.void
      case "Failed": {
        const { attempt } = outcome
        if (attempt < maxAttempts)
          return this.#logged(delivery, "retry", delivery.retry(this.#delayOf(attempt, redeliveryDelay)))
        return this.#deadLetter(delivery, attempt, `handler failed ${attempt} times: ${describeFailure(outcome.cause)}`)
      }
      case "HandedBack":
        return this.#logged(delivery, "hand back", delivery.nak())
      case "Undecodable":
        return this.#deadLetter(delivery, 0, outcome.reason)
      case "Abandoned":
        return this.#deadLetter(
          delivery,
          outcome.failures,
          `${outcome.abandoned} deliveries ended without an outcome (a consumer crashed, or a handler overran its ack wait); it is not handled again`
        )
    }
  }

  /** The redelivery delay of `attempt`; the default's where the user's function gives no duration. */
  #delayOf(attempt: number, delayOf: (attempt: number) => Duration.Input): Duration.Input {
    const delay = delayOf(attempt)
    return Option.match(Duration.fromInput(delay), {
      onNone: () => defaultRedeliveryDelay(attempt),
      onSome: (duration) => (Duration.isNegative(duration) ? defaultRedeliveryDelay(attempt) : duration)
    })
  }

  /**
   * Moves a delivery to the dead letter, then acknowledges it; if the dead letter cannot be stored, the
   * delivery is delivered again after its redelivery delay, to be dead-lettered then.
   */
  #deadLetter(delivery: Delivery, attempts: number, reason: string): Effect.Effect<void> {
    const { transport, topic, deadLetterTopic, group, redeliveryDelay } = this.#options
    const acked = this.#logged(delivery, "ack", delivery.ack)
    // Handed back, not failed again: its next delivery is the same attempt, and dead-letters it if it fails.
    const redelivered = this.#logged(
      delivery,
      "nak",
      delivery.nak(this.#delayOf(Math.max(1, attempts), redeliveryDelay))
    )
    const log = (line: Effect.Effect<void>) => this.#annotated(delivery, line)
    return Effect.gen(function* () {
      const letter = DeadLetter.record(deadLetterTopic, delivery, {
        group,
        reason,
        attempts,
        nowMillis: yield* Clock.currentTimeMillis
      })
      const stored = yield* Effect.exit(transport.publish([letter]))
      if (Exit.isSuccess(stored)) {
        yield* log(Effect.logWarning(`dead-lettered message ${delivery.id} of ${topic}: ${reason}`))
        yield* acked
      } else {
        const why = describeFailure(stored.cause)
        yield* log(
          Effect.logError(
            `cannot dead-letter message ${delivery.id} of ${topic} (${why}); it is handed back and dead-lettered when it fails again: ${reason}`
          )
        )
        yield* redelivered
      }
    })
  }

  /** A settlement whose failure is logged: the broker's ack wait brings the message back. */
  #logged(delivery: Delivery, what: string, settlement: Effect.Effect<void, unknown>): Effect.Effect<void> {
    return Effect.catchCause(settlement, (cause) =>
      this.#annotated(
        delivery,
        Effect.logError(`cannot ${what} message ${delivery.id} of ${this.#options.topic}`, cause)
      )
    )
  }

  /** A log line about `delivery`, with its topic, group and id as fields. */
  #annotated(delivery: Delivery, log: Effect.Effect<void>): Effect.Effect<void> {
    return Effect.annotateLogs(log, messageFields(this.#options.topic, this.#options.group, delivery.id))
  }
}
