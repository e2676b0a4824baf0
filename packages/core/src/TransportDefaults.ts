/**
 * The defaults of the Transport port's options, resolved in one place.
 *
 * Invariant: every transport (and the Bus) reads them from here, so that no two implementations can
 * disagree on what an absent option means.
 *
 * Why: a literal default repeated in each implementation is a drift waiting to happen.
 */
import { Duration } from "effect"
import * as StartPosition from "./StartPosition.ts"
import type { GroupConfig, GroupSettings, SubscriptionOptions, TopicConfig, TopicSettings } from "./Transport.ts"

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

/** A topic's maximum age in milliseconds; `undefined` for none (absent, or `"Infinity"`). */
export const maxAgeOf = (config: Pick<TopicConfig, "maxAge">): number | undefined => {
  const millis = config.maxAge === undefined ? Number.POSITIVE_INFINITY : Duration.toMillis(config.maxAge)
  return Number.isFinite(millis) ? millis : undefined
}

/**
 * How long a topic remembers a message id, in milliseconds: never longer than its maximum age (JetStream
 * refuses a longer window; a message id outliving its message would drop a republished message for nothing).
 */
export const dedupWindowOf = (config: Pick<TopicConfig, "dedupWindow" | "maxAge">): number =>
  Math.min(Duration.toMillis(config.dedupWindow ?? dedupWindow), maxAgeOf(config) ?? Number.POSITIVE_INFINITY)

/** Every setting of a topic, an absent one at its default; `replicas` is the transport's default copies. */
export const topicSettingsOf = (config: TopicConfig, replicas = 1): TopicSettings => ({
  maxMessages: config.maxMessages,
  maxBytes: config.maxBytes,
  maxAge: maxAgeOf(config),
  discard: config.discard ?? "old",
  dedupWindow: dedupWindowOf(config),
  replicas: config.replicas ?? replicas,
  retention: config.retention ?? "limits"
})

/** Every setting of a group, an absent one at its default (the default ack wait, unlimited deliveries). */
export const groupSettingsOf = (config: GroupConfig): GroupSettings => ({
  ackWaits: ackWaitsOf(config),
  maxDeliveries: config.maxDeliveries
})
