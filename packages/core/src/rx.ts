/**
 * The RxJS face (`@sluice/core/rx`): topics as Observables over the same engine.
 *
 * ```ts
 * const sluice = await Sluice.connect()
 * messages(sluice, orders, { group: "billing", maxInFlight: 100 }).pipe(
 *   mergeMap(async (message) => { await bill(message.payload); await message.ack() }, 16)
 * ).subscribe()
 * from(values).pipe(publishTo(sluice, orders)).subscribe((receipt) => ...)
 * ```
 *
 * RxJS has no backpressure of its own: the broker's `maxInFlight` is the bound.
 * A member holds at most that many unsettled messages, so an Observable whose
 * messages are not acknowledged stops receiving new ones.
 */
import { Cause, Effect, Exit, Fiber, Stream } from "effect"
import { concatMap, from, Observable, type OperatorFunction } from "rxjs"
import type { SubscribeOptions } from "./Bus.ts"
import { toPromiseMessage } from "./internal/promises.ts"
import type { Client, Message } from "./Sluice.ts"
import type { Topic } from "./Topic.ts"
import type { PublishReceipt } from "./Transport.ts"

/**
 * The messages of `topic` as a cold Observable: each subscription opens a
 * broker subscription, and unsubscribing closes it. Unsettled messages are
 * redelivered after their ack wait; undecodable ones go to the dead letter.
 */
export const messages = <A>(client: Client, topic: Topic<A>, options: SubscribeOptions = {}): Observable<Message<A>> =>
  new Observable<Message<A>>((subscriber) => {
    const fiber = Effect.runFork(
      Stream.runForEach(client.bus.subscribe(topic, options), (message) =>
        Effect.sync(() => subscriber.next(toPromiseMessage(message)))
      )
    )
    fiber.addObserver((exit) => {
      if (Exit.isSuccess(exit)) subscriber.complete()
      else if (!Cause.hasInterruptsOnly(exit.cause)) subscriber.error(Cause.squash(exit.cause))
    })
    return () => {
      Effect.runFork(Fiber.interrupt(fiber))
    }
  })

/**
 * Publishes each value of the source to `topic`, one at a time in source order,
 * and emits the broker's confirmation of each. A publish that fails errors the
 * Observable with the typed error.
 */
export const publishTo =
  <A>(client: Client, topic: Topic<A>): OperatorFunction<A, PublishReceipt> =>
  (source) =>
    source.pipe(concatMap((value) => from(client.publish(topic, value))))
