/**
 * A small actor: fibers that take messages from a bounded mailbox and handle
 * them one at a time each. The consumer runtime is built on it, and per-key
 * ordering gives every active key an actor of its own.
 */
import { Cause, Effect, Exit, Fiber, Queue, type Scope } from "effect"

/**
 * What an actor does when handling a message dies with a defect (a bug, not
 * a typed failure, which `receive` cannot have):
 * - `"resume"`: log the defect and go on with the next message;
 * - `"stop"`: stop taking messages; `await` dies with the defect.
 */
export type Supervision = "resume" | "stop"

/** Options of {@link make}. */
export interface ActorOptions<M, R> {
  /** Handles one message. Typed failures must be handled inside: only defects reach supervision. */
  readonly receive: (message: M) => Effect.Effect<void, never, R>
  /** Messages the mailbox holds before `tell` waits, a count. Default 1000. */
  readonly capacity?: number
  /** Fibers sharing the mailbox, each handling one message at a time (a balancing pool). Default 1: strict mailbox order. */
  readonly workers?: number
  /** What a defect in `receive` does. Default `"resume"`. */
  readonly supervision?: Supervision
}

/** A running actor. */
export interface Actor<M> {
  /** Puts a message in the mailbox, waiting while it is full. False when the actor no longer accepts messages. */
  tell(message: M): Effect.Effect<boolean>
  /** Messages in the mailbox, not yet started. */
  readonly pending: Effect.Effect<number>
  /** Stops accepting messages and returns those not started; messages being handled go on. */
  readonly close: Effect.Effect<ReadonlyArray<M>>
  /** Stops accepting messages and waits until every message already told is handled. */
  readonly drain: Effect.Effect<void>
  /** Waits until the actor stopped: drained after `close` or `drain`, or stopped by a defect. */
  readonly await: Effect.Effect<void>
  /** Interrupts the messages being handled and stops. */
  readonly interrupt: Effect.Effect<void>
}

/** Starts an actor whose fibers live in the current scope. */
export const make = <M, R>(options: ActorOptions<M, R>): Effect.Effect<Actor<M>, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const mailbox = yield* Queue.bounded<M, Cause.Done>(options.capacity ?? 1000)
    const supervision = options.supervision ?? "resume"
    const receive = (message: M) =>
      supervision === "resume"
        ? Effect.catchCause(options.receive(message), (cause) =>
            Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.logError("actor message failed", cause)
          )
        : options.receive(message)
    const worker = Effect.gen(function* () {
      for (;;) {
        const message = yield* Queue.take(mailbox)
        yield* receive(message)
      }
    }).pipe(
      Effect.catchIf(Cause.isDone, () => Effect.void),
      Effect.onError(() => Queue.end(mailbox))
    )
    const fibers: Array<Fiber.Fiber<void>> = []
    for (let i = 0; i < (options.workers ?? 1); i++) fibers.push(yield* Effect.forkScoped(worker))
    // Interrupted workers count as stopped; a defect under "stop" supervision is re-raised.
    const await_ = Effect.flatMap(Fiber.awaitAll(fibers), (exits) => {
      for (const exit of exits)
        if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) return Effect.failCause(exit.cause)
      return Effect.void
    })
    return {
      tell: (message) => Queue.offer(mailbox, message),
      pending: Queue.size(mailbox),
      close: Effect.flatMap(Queue.end(mailbox), () => Queue.clear(mailbox)).pipe(
        Effect.catchCause(() => Effect.succeed([]))
      ),
      drain: Effect.flatMap(Queue.end(mailbox), () => await_),
      await: await_,
      interrupt: Fiber.interruptAll(fibers)
    } satisfies Actor<M>
  })
