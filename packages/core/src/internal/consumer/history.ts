/**
 * A delivery's history, as the consumer runtime reads it: which handler attempt a delivery is, and how many
 * of the deliveries before it were abandoned. Read only for a redelivery (a transport may have to fetch it).
 *
 * Invariant: a history that cannot be read never lets a message go round unbounded: every earlier delivery
 * then counts as a failed attempt, so that a failing message still reaches its dead letter.
 */
import { Effect } from "effect"
import { messageFields } from "../../Logging.ts"
import type { Delivery, DeliveryHistory } from "../../Transport.ts"

const FIRST: DeliveryHistory = { failures: 0, abandoned: 0 }

/** What became of the deliveries before `delivery`, taken by `group` (none for a broadcast subscription). */
export const historyOf = (delivery: Delivery, group: string | undefined): Effect.Effect<DeliveryHistory> =>
  delivery.deliveryCount === 1
    ? Effect.succeed(FIRST)
    : Effect.catchCause(delivery.history, (cause) =>
        Effect.as(
          Effect.logWarning(
            `cannot read the history of message ${delivery.id} of ${delivery.topic}; its ${delivery.deliveryCount - 1} earlier deliveries count as failed attempts`,
            cause
          ).pipe(Effect.annotateLogs(messageFields(delivery.topic, group, delivery.id))),
          { failures: delivery.deliveryCount - 1, abandoned: 0 }
        )
      )
