/**
 * A small actor: fibers that take messages from a bounded mailbox and handle them one at a time each. The
 * consumer runtime's default dispatch is one, and per-key ordering gives every active key an actor of its own.
 *
 * Invariant: a message told is handled once or handed back by `close`, never both; the mailbox holds at
 * most `capacity`, so `tell` waits (backpressure); a worker interrupted from outside is replaced.
 *
 * Why: a mailbox and a few fibers are the smallest unit that bounds memory and keeps an order.
 */
import { Cause, Effect, Exit, Fiber, Option, Queue, type Scope } from "effect"

/**
 * What an actor does when handling a message fails or dies:
 * - `"resume"`: log the cause and go on with the next message;
 * - `"stop"`: stop taking messages; `await` fails with the cause.
 */
export type Supervision = "resume" | "stop"

/** Options of {@link make}. */
export interface ActorOptions<M, E, R> {
  /** Handles one message. What it does not handle itself, failure or defect, goes to supervision. */
  readonly receive: (message: M) => Effect.Effect<void, E, R>
  /** Messages the mailbox holds before `tell` waits, a count. Default 1000. */
  readonly capacity?: number
  /** Fibers sharing the mailbox, each handling one message at a time (a balancing pool). Default 1: strict mailbox order. */
  readonly workers?: number
  /** What a failure or defect of `receive` does. Default `"resume"`. */
  readonly supervision?: Supervision
}

/**
 * A running actor. A fiber handling a message may be interrupted from outside (found with
 * `Effect.withFiber` in `receive`): the message is then abandoned, and a new fiber takes its place.
 */
export interface Actor<M, E = never> {
  /** Puts a message in the mailbox, waiting while it is full. False when the actor no longer accepts messages. */
  tell(message: M): Effect.Effect<boolean>
  /** Puts messages in the mailbox in order, waiting while it is full. False when some were refused because the actor stopped. */
  tellAll(messages: Iterable<M>): Effect.Effect<boolean>
  /** Messages in the mailbox, not yet started. */
  readonly pending: Effect.Effect<number>
  /** Stops accepting messages and returns those not started; messages being handled go on. */
  readonly close: Effect.Effect<ReadonlyArray<M>>
  /** Stops accepting messages and waits until every message already told is handled. */
  readonly drain: Effect.Effect<void, E>
  /** Waits until the actor stopped: drained after `close` or `drain`, or stopped by supervision `"stop"`. */
  readonly await: Effect.Effect<void, E>
  /** Interrupts the messages being handled and stops. */
  readonly interrupt: Effect.Effect<void>
}

/** Starts an actor whose fibers live in the current scope. */
export const make = <M, E, R>(options: ActorOptions<M, E, R>): Effect.Effect<Actor<M, E>, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const mailbox = yield* Queue.bounded<M, Cause.Done>(options.capacity ?? 1000)
    const supervision = options.supervision ?? "resume"
    // Set when supervision "stop" stopped the actor: workers still running take no new message.
    let stoppedBy: Cause.Cause<E> | undefined
    const handedBack: Array<M> = []
    const receive = (message: M): Effect.Effect<void, E, R> => {
      if (stoppedBy === undefined) return options.receive(message)
      handedBack.push(message)
      return Effect.failCause(stoppedBy)
    }
    // The runtime still yields after its operation budget; a yield per message would cost an event-loop turn each.
    // Taking synchronously when the mailbox has messages skips the waiting machinery of `Queue.take`. The loop
    // ends when taking fails (the mailbox ended) or, under "stop", when handling does.
    const loop = Effect.whileLoop({
      while: () => true,
      body: () => {
        const taken = Queue.takeUnsafe(mailbox)
        if (taken === undefined) return Effect.flatMap(Queue.take(mailbox), receive)
        return Exit.isSuccess(taken) ? receive(taken.value) : taken
      },
      step: () => {}
    })
    // Supervision wraps the loop, not each message: under "resume" a failure is logged and the loop starts again.
    const worker: Effect.Effect<void, E, R> = Effect.catchCause(loop, (cause) => {
      const error = Cause.findErrorOption(cause)
      if (Option.isSome(error) && Cause.isDone(error.value)) return Effect.void
      if (supervision === "stop" || Cause.hasInterruptsOnly(cause)) {
        stoppedBy ??= cause as Cause.Cause<E>
        return Effect.andThen(Queue.end(mailbox), Effect.failCause(stoppedBy))
      }
      return Effect.andThen(Effect.logError("actor message failed", cause), worker)
    })
    // A worker interrupted from outside (the consumer runtime interrupts one whose handler overran its time) is
    // replaced, so that the actor keeps its workers; interrupting the slot itself ends both.
    const slot: Effect.Effect<void, E, R> = Effect.flatMap(Effect.forkChild(worker), (fiber) =>
      Effect.flatMap(Fiber.await(fiber), (exit) =>
        Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? slot : exit
      )
    )
    const fibers: Array<Fiber.Fiber<void, E>> = []
    for (let i = 0; i < (options.workers ?? 1); i++) fibers.push(yield* Effect.forkScoped(slot))
    // Interrupted workers count as stopped; what stopped one under "stop" supervision is re-raised.
    const await_ = Effect.flatMap(Fiber.awaitAll(fibers), (exits) => {
      for (const exit of exits)
        if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) return Effect.failCause(exit.cause)
      return Effect.void
    })
    return {
      tell: (message) => Queue.offer(mailbox, message),
      tellAll: (messages) => Effect.map(Queue.offerAll(mailbox, messages), (rejected) => rejected.length === 0),
      pending: Queue.size(mailbox),
      close: Effect.flatMap(Queue.end(mailbox), () => Queue.clear(mailbox)).pipe(
        Effect.catchCause(() => Effect.succeed([])),
        Effect.map((unstarted) => [...handedBack.splice(0), ...unstarted])
      ),
      drain: Effect.flatMap(Queue.end(mailbox), () => await_),
      await: await_,
      interrupt: Fiber.interruptAll(fibers)
    } satisfies Actor<M, E>
  })
