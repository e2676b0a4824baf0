/**
 * The consumer runtime: a subscription feeds a dispatcher, the dispatcher runs the handler on its fibers,
 * and the settler tells the broker what became of each message. It holds every message from the moment it
 * arrives until it is settled, marks those held long as worked on, and interrupts a handler that overran
 * its time.
 *
 * Invariant: it stops in one protocol: pull no more, hand back what was not started, let what runs finish
 * within the stop timeout, hand back what had to be interrupted; nothing is acknowledged unfinished.
 *
 * Why: one runtime under every consumer, with the dispatch as its seam, so that patterns change scheduling
 * without copying the stop protocol.
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Result, Scope, Stream } from "effect"
import type { ConsumeOptions, Consumer } from "../../Consumer.ts"
import * as Dispatch from "../../Dispatch.ts"
import { HandlerTimeout, type InvalidConfig, type InvalidName, type TransportError } from "../../errors.ts"
import type { Handler } from "../../Handler.ts"
import type { Topic } from "../../Topic.ts"
import type { Transport } from "../../Transport.ts"
import * as TransportChecks from "../../TransportChecks.ts"
import * as TransportDefaults from "../../TransportDefaults.ts"
import { count, duration, firstProblem, func, object } from "../options.ts"
import { decode } from "../ReceivedMessage.ts"
import { historyOf } from "./history.ts"
import { type Hold, KeepAlive } from "./KeepAlive.ts"
import * as Settler from "./Settler.ts"

const DEFAULT_MAX_ATTEMPTS = 5
/**
 * Earlier deliveries of a message that may end without an outcome (a crash, an overrun ack wait) before it is
 * dead-lettered without being handled: a message that crashes its consumer must not crash every consumer.
 */
const MAX_ABANDONED = 5
const DEFAULT_STOP_TIMEOUT = Duration.seconds(30)
const DEFAULT_HANDLER_TIMEOUT = Duration.minutes(5)

/** The consumer's options are acceptable, the subscription's among them: the first problem, or success. */
export const validate = (options: ConsumeOptions): Result.Result<void, InvalidConfig | InvalidName> => {
  const problem = firstProblem(
    object("options", options),
    count("concurrency", options.concurrency),
    count("maxAttempts", options.maxAttempts),
    func("redeliveryDelay", options.redeliveryDelay),
    duration("stopTimeout", options.stopTimeout, { zero: true, infinite: true }),
    duration("handlerTimeout", options.handlerTimeout, { infinite: true }),
    duration("workingInterval", options.workingInterval),
    func("dispatch", options.dispatch)
  )
  if (problem !== undefined) return Result.fail(problem)
  if (options.group !== undefined) {
    const group = TransportChecks.groupName(options.group)
    if (Result.isFailure(group)) return Result.fail(group.failure)
  }
  return TransportChecks.subscription({ ...options, topic: "" })
}

/** Starts a consumer of `topic` in the scope, with options {@link validate} accepted; it stops gracefully when the scope closes. */
export const start = <A, E, R>(
  transport: Transport,
  topic: Topic<A>,
  options: ConsumeOptions,
  handler: Handler<A, E, R>
): Effect.Effect<Consumer, TransportError, Scope.Scope | R> =>
  Effect.gen(function* () {
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
    const concurrency = options.concurrency ?? 1
    // A message waits in the broker, not here, until a handler is free: a crash strands no more than that.
    const maxInFlight = options.maxInFlight ?? concurrency
    const handlerTimeoutMillis = Duration.toMillis(options.handlerTimeout ?? DEFAULT_HANDLER_TIMEOUT)
    const settler = new Settler.Settler({
      transport,
      topic: topic.name,
      deadLetterTopic: topic.deadLetter,
      group: options.group,
      maxAttempts,
      redeliveryDelay: options.redeliveryDelay ?? Settler.defaultRedeliveryDelay
    })
    const clock = yield* Clock.Clock
    const workingInterval =
      options.workingInterval === undefined
        ? TransportDefaults.shortestAckWaitOf(options) / 3
        : Duration.toMillis(options.workingInterval)
    const held = new KeepAlive(workingInterval)

    /** A handler that overran its time: it no longer holds its message, and its attempt failed. */
    const timedOut = (hold: Hold) => {
      held.release(hold)
      const cause = Cause.fail(new HandlerTimeout({ topic: topic.name, timeoutMillis: handlerTimeoutMillis }))
      const interrupted = hold.fiber === undefined ? Effect.void : Fiber.interrupt(hold.fiber)
      return Effect.andThen(
        interrupted,
        settler.settle(hold.delivery, { _tag: "Failed", cause, attempt: hold.attempt })
      )
    }
    // One fiber marks the messages held long as worked on, and finds the handlers that overran their time.
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          yield* Effect.sleep(Math.min(held.tickMillis, handlerTimeoutMillis / 10))
          const now = clock.currentTimeMillisUnsafe()
          for (const hold of held.overdue(now, handlerTimeoutMillis)) yield* Effect.forkScoped(timedOut(hold))
          for (const delivery of held.due(now)) yield* Effect.ignore(delivery.working)
        })
      )
    )

    // The per-message path: plain code and one Effect chain, no generator.
    const start = (hold: Hold, attempt: number): Effect.Effect<void, never, R> => {
      const delivery = hold.delivery
      const message = decode(topic, delivery, attempt)
      if (typeof message === "string") {
        held.release(hold)
        return settler.settle(delivery, { _tag: "Undecodable", reason: message })
      }
      hold.attempt = attempt
      hold.startedAt = clock.currentTimeMillisUnsafe()
      return Effect.matchCauseEffect(handler(message), {
        // Declared with its parameter: Effect wraps a callback of another arity in a closure, per message.
        onSuccess: (_: unknown) => {
          // Released already: the handler overran its time and its attempt was failed.
          if (hold.released) return Effect.void
          held.release(hold)
          return settler.settle(delivery, message.settled ? Settler.SettledByHandler : Settler.Succeeded)
        },
        onFailure: (cause) => {
          if (hold.released) return Effect.void
          held.release(hold)
          if (message.settled) return Effect.void
          return settler.settle(
            delivery,
            Cause.hasInterruptsOnly(cause) ? Settler.HandedBack : { _tag: "Failed", cause, attempt }
          )
        }
      })
    }
    // A first delivery is attempt 1; a redelivery's attempt, and whether it was abandoned too often to handle
    // again, come from its history.
    const handle = (hold: Hold): Effect.Effect<void, never, R> => {
      if (hold.delivery.deliveryCount === 1) return start(hold, 1)
      return Effect.flatMap(historyOf(hold.delivery, options.group), (history) => {
        if (history.abandoned < MAX_ABANDONED) return start(hold, history.failures + 1)
        held.release(hold)
        return settler.settle(hold.delivery, { _tag: "Abandoned", ...history })
      })
    }
    // The fiber is kept so that a handler that overruns its time can be interrupted.
    const run = (hold: Hold): Effect.Effect<void, never, R> =>
      Effect.withFiber((fiber) => {
        hold.fiber = fiber
        return handle(hold)
      })

    const dispatcher = yield* (options.dispatch ?? Dispatch.pool)(run, { concurrency, capacity: maxInFlight })
    const stopping = yield* Deferred.make<void>()
    // The subscription has a scope of its own, so that `stop` can end it before the consumer's scope closes.
    const subscription = yield* Scope.fork(yield* Effect.scope)
    const deliveries = yield* transport
      .subscribe({ ...options, topic: topic.name, maxInFlight })
      .pipe(Scope.provide(subscription))
    const feed = yield* deliveries.pipe(
      Stream.runForEachArray((batch) => {
        const now = clock.currentTimeMillisUnsafe()
        return dispatcher.offerAll(batch.map((delivery) => held.take(delivery, now)))
      }),
      Effect.forkScoped
    )

    const stopped = yield* Deferred.make<void>()
    const stop = Effect.gen(function* () {
      if (!(yield* Deferred.succeed(stopping, undefined))) return yield* Deferred.await(stopped)
      // Closing the subscription ends its stream; the feed ends once it handed on what it had taken.
      yield* Scope.close(subscription, Exit.void)
      yield* Fiber.await(feed)
      const unstarted = yield* dispatcher.close
      for (const hold of unstarted) held.release(hold)
      yield* Effect.forEach(unstarted, (hold) => settler.settle(hold.delivery, Settler.HandedBack), { discard: true })
      const finished = yield* Effect.timeoutOption(dispatcher.await, options.stopTimeout ?? DEFAULT_STOP_TIMEOUT)
      if (finished._tag === "None") {
        yield* dispatcher.interrupt
        // What the interrupted handlers held is not done: hand it back at once rather than after its ack wait.
        yield* Effect.forEach(held.releaseAll(), (delivery) => settler.settle(delivery, Settler.HandedBack), {
          discard: true
        })
      }
      yield* Deferred.succeed(stopped, undefined)
    }).pipe(Effect.uninterruptible)
    yield* Effect.addFinalizer(() => stop)

    return { stop, done: Effect.andThen(Fiber.join(feed), dispatcher.await) } satisfies Consumer
  })
