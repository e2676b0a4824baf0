/**
 * How a consumer's messages reach handler fibers: the seam where a pattern puts its own scheduling (the
 * per-key pattern, an actor per key).
 *
 * Invariant: a dispatch decides only which fiber runs which job, and when; it never settles a message, and
 * every job it takes it either runs or returns from `close`.
 *
 * Why: the consumer runtime owns the rest (the subscription, the keep-alive of held messages, settling, the
 * stop protocol), so a pattern supplies scheduling without copying any of it.
 */
import { Effect, type Scope } from "effect"
import * as Actor from "./Actor.ts"
import type { Delivery } from "./Transport.ts"

/** A message on its way to a handler, as a dispatch sees it. */
export interface Job {
  /** The message as the broker delivered it: `delivery.key` is its key, `delivery.sequence` its position. */
  readonly delivery: Delivery
}

/** What the runtime asks of a dispatcher. */
export interface DispatchOptions {
  /** Jobs running at once at most, a count (the consumer's `concurrency`). */
  readonly concurrency: number
  /** Jobs held at most, waiting or running, a count (the consumer's in-flight bound). */
  readonly capacity: number
}

/** A running dispatcher: jobs in, `run` on fibers of its own. */
export interface Dispatcher<J extends Job> {
  /** Takes jobs in the order received, waiting while it holds `capacity`. */
  offerAll(jobs: ReadonlyArray<J>): Effect.Effect<void>
  /** Takes no more jobs, and returns those it has not started, for the runtime to hand back. */
  readonly close: Effect.Effect<ReadonlyArray<J>>
  /** Waits until every job it started has finished; after `close`, until it is idle. */
  readonly await: Effect.Effect<void>
  /** Interrupts the jobs running. */
  readonly interrupt: Effect.Effect<void>
}

/**
 * Starts a dispatcher in the consumer's scope. `run` handles one job and never fails: the runtime has turned
 * every outcome into a settlement by then. The runtime may interrupt the fiber running a job (its handler
 * overran `handlerTimeout`; it settles the job itself): the dispatcher must go on with its other jobs, as
 * `pool` does by replacing the fiber.
 */
export type Dispatch = <J extends Job, R>(
  run: (job: J) => Effect.Effect<void, never, R>,
  options: DispatchOptions
) => Effect.Effect<Dispatcher<J>, never, Scope.Scope | R>

/** The default: `concurrency` fibers sharing one mailbox of `capacity` jobs, started in the order received. */
export const pool: Dispatch = (run, options) =>
  Effect.map(Actor.make({ receive: run, workers: options.concurrency, capacity: options.capacity }), (actor) => ({
    offerAll: (jobs) => Effect.asVoid(actor.tellAll(jobs)),
    close: actor.close,
    await: Effect.ignore(actor.await),
    interrupt: actor.interrupt
  }))
