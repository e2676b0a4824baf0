/**
 * The defaults of the Transport port's options, resolved in one place: every transport (and the Bus) reads
 * them from here, so that no two implementations can disagree on what an absent option means.
 */
import { Duration } from "effect"
import * as StartPosition from "./StartPosition.ts"
import type { SubscriptionOptions, TopicConfig } from "./Transport.ts"

/** Unsettled deliveries a member holds when `SubscriptionOptions.maxInFlight` is absent, a count. */
export const maxInFlight = 1000

/** How long a delivery may stay unsettled when neither `ackWait` nor `backoff` is given. */
export const ackWait: Duration.Duration = Duration.seconds(30)

/** How long a message id is remembered when `TopicConfig.dedupWindow` is absent. */
export const dedupWindow: Duration.Duration = Duration.minutes(2)

/** The in-flight bound of a subscription, a count. */
export const maxInFlightOf = (options: Pick<SubscriptionOptions, "maxInFlight">): number =>
  options.maxInFlight ?? maxInFlight

/** Where a new group or broadcast subscription starts: `All` for a group, `New` for a broadcast. */
export const startOf = (options: Pick<SubscriptionOptions, "start" | "group">): StartPosition.StartPosition =>
  options.start ?? (options.group === undefined ? StartPosition.new : StartPosition.all)

/**
 * The ack wait of each delivery, in milliseconds: entry `n - 1` for delivery `n`, the last entry repeating
 * ({@link ackWaitOf} reads it). `backoff` when given, else `ackWait`, else the default.
 */
export const ackWaitsOf = (options: Pick<SubscriptionOptions, "ackWait" | "backoff">): ReadonlyArray<number> =>
  (options.backoff !== undefined && options.backoff.length > 0 ? options.backoff : [options.ackWait ?? ackWait]).map(
    Duration.toMillis
  )

/** The ack wait of delivery `deliveryCount` (1 for the first), in milliseconds, from {@link ackWaitsOf}. */
export const ackWaitOf = (ackWaits: ReadonlyArray<number>, deliveryCount: number): number =>
  ackWaits[Math.min(deliveryCount, ackWaits.length) - 1] as number

/** The shortest ack wait of a subscription, in milliseconds. */
export const shortestAckWaitOf = (options: Pick<SubscriptionOptions, "ackWait" | "backoff">): number =>
  Math.min(...ackWaitsOf(options))

/** How long a topic remembers a message id, in milliseconds. */
export const dedupWindowOf = (config: Pick<TopicConfig, "dedupWindow">): number =>
  Duration.toMillis(config.dedupWindow ?? dedupWindow)
