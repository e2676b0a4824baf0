/**
 * The RxJS face (`@sluice/core/rx`): topics as Observables over the same engine.
 *
 * ```ts
 * const sluice = await Sluice.connect()
 * const billing = await messages(sluice, orders, { group: "billing", maxInFlight: 100 })
 * billing.pipe(mergeMap(async (message) => { await bill(message.payload); await message.ack() }, 16)).subscribe()
 * from(values).pipe(publishTo(sluice, orders)).subscribe((receipt) => ...)
 * ```
 *
 * Invariant: RxJS has no backpressure of its own: the broker's `maxInFlight` is the bound. A member holds
 * at most that many unsettled messages, so an Observable whose messages are not acknowledged stops
 * receiving new ones.
 *
 * Why: a thin face over the same engine, so that a feature behaves the same in every face.
 */
import { Cause, Effect, Exit, Stream } from "effect"
import { concatMap, from, Observable, type OperatorFunction } from "rxjs"
import type { SubscribeOptions } from "./Bus.ts"
import { PromiseSubscription } from "./internal/PromiseSubscription.ts"
import type { Client, Message, Subscription } from "./Sluice.ts"
import type { Topic } from "./Topic.ts"
import type { PublishReceipt } from "./Transport.ts"

/**
 * Runs the messages of a subscription into `emit`: without a Promise per message, in its client's context,
 * where it is the client's own.
 */
const runMessages = <A>(subscription: Subscription<A>, emit: (message: Message<A>) => void) => {
  const run = (stream: Stream.Stream<Message<A>, unknown>) =>
    Stream.runForEach(stream, (message) => Effect.sync(() => emit(message)))
  return subscription instanceof PromiseSubscription
    ? Effect.runForkWith(subscription.runner.context)(run(subscription.stream))
    : Effect.runFork(run(Stream.fromAsyncIterable(subscription, (error) => error)))
}

/**
 * Opens a subscription to `topic` and resolves, once it exists, with its messages as an Observable. Its first
 * subscriber receives the messages of that subscription; each later one (a `retry`, a `repeat`) opens a
 * subscription of its own. Unsubscribing closes the subscription: every message it emitted and nobody
 * settled goes back to the broker at once. The client's `close` completes it. Undecodable messages go to the
 * dead letter, never to the Observable.
 */
export const messages = async <A>(
  client: Client,
  topic: Topic<A>,
  options: SubscribeOptions = {}
): Promise<Observable<Message<A>>> => {
  let opened: Subscription<A> | undefined = await client.subscribe(topic, options)
  return new Observable<Message<A>>((subscriber) => {
    const first = opened
    opened = undefined
    let subscription: Subscription<A> | undefined
    let unsubscribed = false
    ;(first === undefined ? client.subscribe(topic, options) : Promise.resolve(first)).then(
      (open) => {
        subscription = open
        if (unsubscribed) return void open.close()
        const fiber = runMessages(open, (message) => subscriber.next(message))
        fiber.addObserver((exit) => {
          if (Exit.isSuccess(exit)) subscriber.complete()
          else if (!Cause.hasInterruptsOnly(exit.cause)) subscriber.error(Cause.squash(exit.cause))
        })
      },
      (error: unknown) => subscriber.error(error)
    )
    return () => {
      unsubscribed = true
      // Closing ends the stream, and with it the fiber that runs it.
      void subscription?.close()
    }
  })
}

/**
 * Publishes each value of the source to `topic`, one at a time in source order,
 * and emits the broker's confirmation of each. A publish that fails errors the
 * Observable with the typed error.
 */
export const publishTo =
  <A>(client: Client, topic: Topic<A>): OperatorFunction<A, PublishReceipt> =>
  (source) =>
    source.pipe(concatMap((value) => from(client.publish(topic, value))))
