/**
 * The JetStream consumer of a subscription: a durable pull consumer for a group, an ephemeral one for a
 * broadcast subscription, with explicit acks and the port's defaults (`TransportDefaults`).
 *
 * Invariant: `groupSettingsOf(groupConfigOf(config))` is the port's `GroupSettings` of `config`, so joining a
 * group again with the settings it was created with shows no difference; a consumer that no update could
 * make a group's (`incompatibilityOf`) is never joined.
 *
 * Why: creating, comparing and updating a consumer read the same settings from one place.
 */
import { AckPolicy, type ConsumerConfig, DeliverPolicy, ReplayPolicy } from "@nats-io/jetstream"
import { type StartPosition, type Transport, TransportDefaults } from "@sluice/core"
import { millisOfNanos, nanos } from "./durations.ts"

/**
 * The settings of a group that the consumer keeps for all members: the ack wait of each delivery and the
 * most deliveries. A removed backoff is sent as `undefined`, which the client leaves out of an update.
 */
export const groupConfigOf = (config: Transport.GroupConfig): Partial<ConsumerConfig> => ({
  ack_wait: (TransportDefaults.ackWaitsOf(config)[0] as number) * 1_000_000,
  // JetStream's backoff gives the delay after each delivery; the port's gives the ack wait of each attempt.
  // They agree: both repeat the last entry.
  backoff:
    config.backoff === undefined || config.backoff.length === 0 ? (undefined as never) : config.backoff.map(nanos),
  max_deliver: config.maxDeliveries ?? -1
})

/** A consumer's group settings as the port's (JetStream makes the first backoff entry the ack wait). */
export const groupSettingsOf = (consumer: ConsumerConfig): Transport.GroupSettings => ({
  ackWaits:
    consumer.backoff !== undefined && consumer.backoff.length > 0
      ? consumer.backoff.map(millisOfNanos)
      : [millisOfNanos(consumer.ack_wait ?? nanos(TransportDefaults.ackWait))],
  maxDeliveries: consumer.max_deliver !== undefined && consumer.max_deliver > 0 ? consumer.max_deliver : undefined
})

/**
 * The bound of a group's unsettled messages at the server. Each member bounds its own exactly by what it
 * pulls; the server's `max_ack_pending` bounds the whole group at `membersPerGroup` members' worth.
 */
export const maxAckPendingOf = (options: Transport.SubscriptionOptions, membersPerGroup: number): number =>
  TransportDefaults.maxInFlightOf(options) * membersPerGroup

/** Where a new consumer starts. */
const startOf = (start: StartPosition.StartPosition): Partial<ConsumerConfig> => {
  switch (start._tag) {
    case "New":
      return { deliver_policy: DeliverPolicy.New }
    case "All":
      return { deliver_policy: DeliverPolicy.All }
    case "Sequence":
      return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.sequence }
    case "Time":
      return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.epochMillis).toISOString() }
  }
}

/**
 * The settings of a new pull consumer: durable for a group, ephemeral (gone `inactiveAfter` after its
 * last pull, should its subscriber vanish without deleting it) for a broadcast subscription.
 */
export const consumerConfigOf = (
  options: Transport.SubscriptionOptions,
  membersPerGroup: number,
  inactiveAfterNanos: number
): Partial<ConsumerConfig> => ({
  ...(options.group === undefined ? { inactive_threshold: inactiveAfterNanos } : { durable_name: options.group }),
  ack_policy: AckPolicy.Explicit,
  replay_policy: ReplayPolicy.Instant,
  ...startOf(TransportDefaults.startOf(options)),
  ...groupConfigOf(options),
  max_ack_pending: maxAckPendingOf(options, options.group === undefined ? 1 : membersPerGroup)
})

/** Whether the subject filter `filter` takes in every message of `subject` (a literal subject). */
const covers = (filter: string, subject: string): boolean => {
  const wanted = filter.split(".")
  const tokens = subject.split(".")
  for (let i = 0; i < wanted.length; i++) {
    if (wanted[i] === ">") return i < tokens.length
    if (i >= tokens.length || (wanted[i] !== "*" && wanted[i] !== tokens[i])) return false
  }
  return wanted.length === tokens.length
}

/**
 * Why an existing consumer cannot serve as a group of `topic`, or `undefined` when it can: a group pulls,
 * acknowledges each message on its own, and reads every message of its topic's subject. The server does
 * not let an update turn a push consumer into a pull one, nor change its ack policy.
 */
export const incompatibilityOf = (config: ConsumerConfig, topic: string): string | undefined => {
  if (config.deliver_subject !== undefined && config.deliver_subject !== "")
    return `is taken by a push consumer (it delivers to "${config.deliver_subject}"), and a group needs a pull consumer`
  if (config.ack_policy !== AckPolicy.Explicit)
    return `is taken by a consumer with ack policy "${config.ack_policy}", and a group needs explicit acks`
  const filters = config.filter_subjects ?? (config.filter_subject ? [config.filter_subject] : [])
  if (filters.length > 0 && !filters.some((filter) => covers(filter, topic)))
    return `is taken by a consumer of other subjects (${filters.join(", ")}), and a group reads "${topic}"`
  return undefined
}
