/**
 * The Transport port: what a broker must do for Sluice. Bytes in, bytes out; typed values never reach a
 * transport.
 *
 * Invariant: every implementation passes the same conformance suite (`@sluice/conformance`), which reads
 * {@link TransportFeatures} to know what to expect; each clause of the contract is on its method.
 *
 * Why: a third transport is written against this file and that suite alone.
 */
import { Context, type Duration, type Effect, type Scope, type Stream } from "effect"
import type {
  InvalidConfig,
  InvalidName,
  PublishError,
  TopicNotFound,
  TransportError,
  TransportUnavailable
} from "./errors.ts"
import type { StartPosition } from "./StartPosition.ts"

/** What a transport offers. The conformance suite adapts to these. */
export interface TransportFeatures {
  /** A short name, used in test names and logs (`memory`, `nats`). */
  readonly name: string
  /** Stored messages and group cursors survive a restart of the process that uses the transport. */
  readonly durable: boolean
  /** Time-based behaviour (ack wait, delayed nak, retention by age, dedup window) follows the Effect `Clock`, so `TestClock` drives it. */
  readonly virtualTime: boolean
  /** Largest payload accepted, in bytes. */
  readonly maxPayloadBytes: number
  /**
   * The broker counts what retention removes: `GroupLag.missed` (what a group lost to it), `TopicInfo.expired`
   * and `TopicInfo.discarded`. Otherwise each of them is `undefined`.
   */
  readonly countsRemovals: boolean
}

/**
 * How a topic is stored. Every setting is optional. Creating a topic, an absent setting takes its default;
 * ensuring a topic that exists, an absent setting is no requirement (see {@link Transport.ensureTopic}).
 * With the default retention (`"limits"`) a topic keeps every message, acknowledged or not, until a limit
 * removes it: without limits, for ever.
 */
export interface TopicConfig {
  /** The topic name (validated: dot-separated tokens of `A-Z a-z 0-9 _ -`). */
  readonly name: string
  /** Most messages kept, a count. */
  readonly maxMessages?: number
  /** Most payload bytes kept, in bytes. */
  readonly maxBytes?: number
  /** Oldest message kept, as a duration since it was published. Older messages expire. */
  readonly maxAge?: Duration.Input
  /** What happens at `maxMessages` or `maxBytes`: drop the oldest (`"old"`, the default) or reject the publish with `TopicFull` (`"new"`). */
  readonly discard?: "old" | "new"
  /** How long a message id is remembered to drop republished duplicates; 2 minutes when absent, never longer than `maxAge`. */
  readonly dedupWindow?: Duration.Input
  /** Copies kept by a replicated broker; ignored by transports that do not replicate. */
  readonly replicas?: number
  /**
   * What removes a message besides the limits. `"limits"` (the default): nothing else; acknowledging removes
   * nothing. `"interest"`: a message is removed once every group that holds it has acknowledged (or termed)
   * it, as JetStream's interest retention does. A group holds each message stored while it exists, and, when
   * it is created, the messages still stored from its start position on; a broadcast subscription is a group
   * until it closes. A message stored while no group exists is removed at once (a duplicate of it is then
   * confirmed with sequence 0); one a group stopped delivering after `maxDeliveries` stays until acknowledged
   * late or removed by a limit. Chosen when the topic is created: no transport changes it in place.
   */
  readonly retention?: "limits" | "interest"
}

/**
 * A topic's settings as the broker keeps them, every default resolved: what {@link Transport.ensureTopic}
 * compares a config with, and {@link Transport.updateTopic} changes. Durations in milliseconds; `undefined`
 * is no limit.
 */
export interface TopicSettings {
  readonly maxMessages: number | undefined
  readonly maxBytes: number | undefined
  readonly maxAge: number | undefined
  readonly discard: "old" | "new"
  readonly dedupWindow: number
  readonly replicas: number
  readonly retention: "limits" | "interest"
}

/** A setting stored one way and asked another, each value as text (`"500"`, `"2m"`, `"none"`). */
export interface SettingDifference {
  /** The option that names it (`maxMessages`, `ackWait`, ...). */
  readonly setting: string
  /** What the broker keeps (before an update: what it kept). */
  readonly stored: string
  /** What was asked (after an update: what it keeps now). */
  readonly asked: string
}

/** Options of {@link Transport.updateTopic}. */
export interface UpdateTopicOptions {
  /**
   * Apply a change that removes stored messages (a lower `maxMessages` or `maxBytes` than the topic holds, a
   * `maxAge` shorter than its oldest message's age): the oldest go first, counted as discarded or expired.
   * Default false: such a change is refused and nothing changes.
   */
  readonly allowDiscard?: boolean
}

/** The settings of a group that the broker keeps for all its members (`maxInFlight` is each member's own). */
export type GroupConfig = Pick<SubscriptionOptions, "ackWait" | "backoff" | "maxDeliveries">

/** A group's settings as the broker keeps them: the ack wait of each delivery in milliseconds (the last repeating), and `undefined` for unlimited deliveries. */
export interface GroupSettings {
  readonly ackWaits: ReadonlyArray<number>
  readonly maxDeliveries: number | undefined
}

/** A message on its way to the broker. */
export interface OutgoingRecord {
  readonly topic: string
  /** Message id; a record whose id was already stored within the dedup window is confirmed as a duplicate and not stored again. */
  readonly id: string
  /**
   * False when the id is unique by construction (the Bus generated it), so no earlier record can have it
   * unless this very record was sent before. A transport that confirms atomically (the memory broker) then
   * need not remember it; a transport that can lose a confirmation (NATS) checks it all the same, so a
   * retried publish is never stored twice. Default true.
   */
  readonly dedup?: boolean | undefined
  /** Key for per-key ordering; it travels in a header, never in a subject. */
  readonly key?: string | undefined
  /** Names of `A-Z a-z 0-9 _ . -`, none starting with `Nats-` (directives to the NATS server); values without control characters. */
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
}

/** The broker's confirmation that a record is stored. */
export interface PublishReceipt {
  readonly topic: string
  /**
   * Position of the message in its topic (1 for the first). For a duplicate, the position of the original;
   * 0 where the original was never kept (an interest topic without groups).
   */
  readonly sequence: number
  /** True when the id was seen within the dedup window: nothing new was stored. */
  readonly duplicate: boolean
}

/** Options of {@link Transport.subscribe}. Durations are Effect durations (`"30 seconds"`, or a number of milliseconds). */
export interface SubscriptionOptions {
  readonly topic: string
  /**
   * The consumer group. Members of one group compete: each message goes to one
   * member. The group's cursor is durable where the transport is. Absent: a
   * broadcast subscription that receives every message on its own and is gone
   * when it closes.
   */
  readonly group?: string | undefined
  /** Where a new group (or a broadcast subscription) starts. Ignored when the group exists. Default: `All` for a group, `New` for a broadcast. */
  readonly start?: StartPosition | undefined
  /** Most deliveries this member holds unacknowledged, a count; the broker sends no more until some are settled. Default 1000. */
  readonly maxInFlight?: number | undefined
  /**
   * How long a delivery may stay unsettled before the broker redelivers it; so also how long a delivery lost
   * with a crashed consumer (or, on NATS, with a killed server) takes to come back. Default 30 seconds.
   */
  readonly ackWait?: Duration.Input | undefined
  /** Most deliveries of one message, a count; after the last one the broker stops delivering it. Default unlimited. */
  readonly maxDeliveries?: number | undefined
  /** Ack wait of each delivery: entry `n - 1` is the ack wait of delivery `n`; the last entry repeats. Replaces `ackWait` when given. */
  readonly backoff?: ReadonlyArray<Duration.Input> | undefined
}

/** What became of the earlier deliveries of a message to a group, as the transport recorded them. */
export interface DeliveryHistory {
  /** Earlier deliveries that ended in a handler failure: settled with `retry`. */
  readonly failures: number
  /**
   * Earlier deliveries that ended without a settlement: the member holding one crashed, or let its ack wait
   * pass. Deliveries handed back with `nak` count in neither.
   */
  readonly abandoned: number
}

/**
 * The state of a transport's connection to its broker: `"connected"`; `"reconnecting"` while the connection
 * is lost and the transport tries to get it back (operations wait, or fail with `TransportUnavailable`);
 * `"closed"` for good, once the transport's scope closed or it gave up reconnecting.
 */
export type TransportStatus = "connected" | "reconnecting" | "closed"

/** A message delivered to a subscriber, with the controls that settle it. */
export interface Delivery {
  readonly topic: string
  readonly sequence: number
  readonly id: string
  readonly key: string | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
  /** When the broker stored the message, in milliseconds since the epoch. */
  readonly publishedAt: number
  /** How many times the broker delivered the message to this group, this delivery included: 1 on the first. */
  readonly deliveryCount: number
  /**
   * What became of the earlier deliveries of the message to this group, across members and restarts of the
   * process: none on the first delivery. Read it only where it matters (a transport may have to fetch it).
   */
  readonly history: Effect.Effect<DeliveryHistory, TransportError>
  /** Done: the message is not delivered to this group again. A second settlement of a delivery does nothing. */
  readonly ack: Effect.Effect<void, TransportError>
  /**
   * Not done, and nothing failed: deliver it again, at once or after `delay` (a member handing back what it
   * will not handle). It leaves this member's in-flight count at once, and counts in neither `failures` nor
   * `abandoned` of the next delivery's history.
   */
  nak(delay?: Duration.Input): Effect.Effect<void, TransportError>
  /**
   * Its handler failed: deliver it again, at once or after `delay`, counting one more failure in the next
   * delivery's history. It leaves this member's in-flight count at once.
   */
  retry(delay?: Duration.Input): Effect.Effect<void, TransportError>
  /** Never deliver it to this group again, without success. */
  readonly term: Effect.Effect<void, TransportError>
  /**
   * Still working on it: restart the ack wait. Unsettled, a delivery is delivered again once its ack wait
   * passes (counting as abandoned), and no longer counts against this member's `maxInFlight`. After
   * `maxDeliveries` deliveries the broker stops delivering the message.
   */
  readonly working: Effect.Effect<void, TransportError>
}

/** How far a group is behind its topic. */
export interface GroupLag {
  /** Messages stored but not yet delivered to the group (including those waiting for redelivery). */
  readonly pending: number
  /** Messages delivered to the group and not yet settled. */
  readonly inFlight: number
  /**
   * Messages removed by retention (age or limits) before the group received them; `undefined` where the
   * broker does not count them (JetStream: see `TopicInfo.expired` and `discarded` for the topic's counts).
   */
  readonly missed: number | undefined
}

/** What a topic holds. */
export interface TopicInfo {
  readonly name: string
  /** Messages stored now. */
  readonly messages: number
  /** Bytes stored now, as the broker counts them (the memory broker: payloads; JetStream: also subjects and headers). */
  readonly bytes: number
  /** Sequence of the oldest stored message; `lastSequence + 1` when empty. */
  readonly firstSequence: number
  /** Sequence of the newest message ever stored; 0 when none. */
  readonly lastSequence: number
  /**
   * Messages removed because they were older than `maxAge`; `undefined` where the broker does not count
   * them (`TransportFeatures.countsRemovals` false).
   */
  readonly expired: number | undefined
  /**
   * Messages dropped to make room under `maxMessages` or `maxBytes` with discard `"old"`; `undefined` where
   * the broker does not count them (`TransportFeatures.countsRemovals` false).
   */
  readonly discarded: number | undefined
}

/**
 * A message broker, seen as Sluice needs it. The conformance suite checks each clause below, on its method.
 *
 * Clauses across methods:
 * - Time-based behaviour (ack wait, nak delay, retention by age, dedup window) follows the Effect `Clock` when
 *   `features.virtualTime` is true.
 * - A late ack from an earlier delivery of a message still settles it, as in JetStream: only an idempotent
 *   handler (or dedup) makes that harmless.
 * - Nothing is ever acknowledged by closing a subscription or the transport.
 */
export interface Transport {
  readonly features: TransportFeatures

  /**
   * The connection's status: the current one first, then each change as it happens. The stream completes
   * after `"closed"`, which comes once the transport's scope closed (or its connection closed for good).
   * Each run of it follows the status on its own, from the status of the moment it starts.
   */
  readonly status: Stream.Stream<TransportStatus>

  /**
   * Creates the topic with `config`, an absent setting at its default. A topic that exists is never changed
   * here: each setting `config` gives must equal the stored one, or it fails with `InvalidConfig` naming every
   * difference (the setting, what is stored, what was asked). A setting `config` does not give is no
   * requirement, so a service that defines a topic without limits works beside the one that set them.
   * `dedupWindow` is compared as the topic keeps it, never longer than `maxAge`. {@link updateTopic} changes
   * a topic's settings.
   */
  ensureTopic(config: TopicConfig): Effect.Effect<void, InvalidName | InvalidConfig | TransportUnavailable>

  /**
   * Makes an existing topic's settings those of `config` exactly (an absent setting goes back to its
   * default), logs each change (one line per setting, with the topic, the setting and both values) and
   * returns them; none when nothing differs. Fails with `InvalidConfig`, changing nothing, for a change that
   * would remove stored messages unless `options.allowDiscard` (what stands there when it looks), and for a
   * change no transport can make in place (retention). `TopicNotFound` when the topic does not exist.
   */
  updateTopic(
    config: TopicConfig,
    options?: UpdateTopicOptions
  ): Effect.Effect<ReadonlyArray<SettingDifference>, InvalidName | InvalidConfig | TopicNotFound | TransportUnavailable>

  /**
   * Stores the records and confirms each once it is stored, in order, with its sequence. A record whose id the
   * topic saw within its dedup window is confirmed with `duplicate: true` and stored once. Names, ids, keys,
   * headers and payload sizes of the whole batch are checked before anything is stored. A record that cannot
   * be stored fails the whole call with a `PublishError`; records before it in the batch may have been
   * stored, so retry with the same ids.
   */
  publish(records: ReadonlyArray<OutgoingRecord>): Effect.Effect<ReadonlyArray<PublishReceipt>, PublishError>

  /**
   * Opens a subscription in the scope. When it succeeds, the group exists (created at `start` if it was new)
   * and this member has joined it. A group that exists keeps its settings: each of `ackWait` (or `backoff`)
   * and `maxDeliveries` the options give must equal the group's, or it fails with `InvalidConfig` naming
   * every difference; one they do not give is no requirement; `maxInFlight` is this member's own, and `start`
   * is ignored. {@link updateGroup} changes a group's settings. The stream delivers every stored message to each group at least once, and
   * to each broadcast subscription from its start. Members of one group compete. A member never holds more
   * than `maxInFlight` unsettled deliveries; with `maxInFlight: 1` a group receives in sequence order,
   * redeliveries included. It fails with `Conflict` when the group's name is taken on the broker by something
   * the transport cannot use as a group or change into one, which it leaves as it was.
   *
   * The subscription ends when its scope closes, and its stream completes. Deliveries the stream already
   * emitted can still be settled until their ack wait passes; deliveries the transport held but had not
   * emitted are released for redelivery at once. The stream fails with `TransportUnavailable` when the
   * transport lost its connection for good, or for longer than it allows (a bound it documents), never
   * leaving its reader waiting for ever.
   */
  subscribe(
    options: SubscriptionOptions
  ): Effect.Effect<Stream.Stream<Delivery, TransportError>, TransportError, Scope.Scope>

  /**
   * Makes an existing group's settings those of `config` exactly (an absent setting goes back to its default:
   * the default ack wait, unlimited deliveries), logs each change and returns them, as {@link updateTopic}
   * does. Deliveries already made keep their ack wait. `GroupNotFound` when the group does not exist.
   */
  updateGroup(
    topic: string,
    group: string,
    config: GroupConfig
  ): Effect.Effect<ReadonlyArray<SettingDifference>, TransportError>

  /** How far a group is behind its topic; `GroupNotFound` when the group does not exist. */
  lag(topic: string, group: string): Effect.Effect<GroupLag, TransportError>

  /** What a topic holds now; `TopicNotFound` when it does not exist. */
  topicInfo(topic: string): Effect.Effect<TopicInfo, TransportError>
}

/** The transport a `Bus` runs on, as an Effect service. */
export class TransportService extends Context.Service<TransportService, Transport>()("@sluice/core/Transport") {}
