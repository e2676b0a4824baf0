/**
 * The NATS JetStream transport: Sluice's Transport port over JetStream. One stream per topic (subject =
 * the topic's name), a durable pull consumer per group, an ephemeral pull consumer per broadcast
 * subscription. The message id travels as `Nats-Msg-Id`, so the stream's dedup window drops a republished
 * duplicate. Works with nats-server 2.9 and later.
 *
 * ```ts
 * const sluice = await Sluice.connect(NatsTransport.nats({ servers: "nats://127.0.0.1:4222" }))
 * const program = Effect.provide(myProgram, Bus.layer().pipe(Layer.provide(NatsTransport.layer({ servers }))))
 * ```
 *
 * Invariant: it keeps the port's contract as the conformance suite checks it, with the features it
 * declares, and fails only with the port's typed errors, their texts free of the connection's secrets.
 *
 * Why: each part that holds state is a module that owns it (`CommandBuffer`, `Confirmations`,
 * `ConnectionStatus`, `Subscriber`; the client internals they use are in `clientInternals`); `make` wires
 * them.
 *
 * Durability on 2.9: a confirmed publish is stored and replicated to `replicas` servers, but fsynced
 * only on the server's 60 s timer; a power loss of every replica at once can lose recent messages.
 */
import { type ConsumerInfo, type JetStreamManager, jetstreamManager, type StreamInfo } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { Errors, Transport, TransportChecks, TransportDefaults } from "@sluice/core"
import { Duration, Effect, Layer, type Scope, type Stream } from "effect"
import { CommandBuffer } from "./internal/CommandBuffer.ts"
import { Confirmations } from "./internal/Confirmations.ts"
import { ConnectionStatus } from "./internal/ConnectionStatus.ts"
import { clientInternalsOf } from "./internal/clientInternals.ts"
import { addressOf, type ConnectionSettings, open, redactorOf, targetOf } from "./internal/connection.ts"
import {
  consumerConfigOf,
  groupConfigOf,
  groupSettingsOf,
  incompatibilityOf,
  maxAckPendingOf
} from "./internal/consumerConfig.ts"
import { DeliveryHistories } from "./internal/DeliveryHistories.ts"
import { millis, nanos } from "./internal/durations.ts"
import {
  apiFailure,
  connectFailure,
  isConfigRefused,
  isConsumerNotFound,
  isConsumerRefused,
  isNoResponders,
  isOverMaxPayload,
  isStoreFailed,
  isStreamNotFound,
  messageOf,
  topicFullOf,
  unavailable
} from "./internal/errors.ts"
import { streamName } from "./internal/names.ts"
import { checkOptions } from "./internal/options.ts"
import { pullSettingsOf } from "./internal/pullSettings.ts"
import { wireHeaderBytes, wireHeadersOf } from "./internal/records.ts"
import { Lingering, Subscriber, type SubscriberContext } from "./internal/Subscriber.ts"
import { type Storage, storageOf, streamConfigOf, topicSettingsOf } from "./internal/streamConfig.ts"

/** Options of {@link make}: how to connect, and how topics and subscriptions map onto JetStream. */
export interface NatsTransportOptions extends ConnectionSettings {
  /** A connection to use instead of opening one from the settings above; the transport never closes it. */
  readonly connection?: NatsConnection
  /** Where streams keep messages: `"file"` (default, survives a server restart) or `"memory"`. */
  readonly storage?: Storage
  /** Copies of each stream when a topic does not say (`TopicConfig.replicas`), a count from 1 to 5. Default 1. */
  readonly replicas?: number
  /**
   * How long a publish waits for its confirmation (found out within a tenth of it more), and an API call
   * for its answer. Default 5 seconds.
   */
  readonly requestTimeout?: Duration.Input
  /** Most messages one pull asks for, a count of at least 1. Default 1000 (never more than the subscription's `maxInFlight`). */
  readonly pullBatch?: number
  /**
   * How long a pull waits at the server for messages. A closed subscription hands back messages that
   * reach it late after at most this long. Default 3 seconds.
   */
  readonly pullExpires?: Duration.Input
  /**
   * How often a waiting pull hears from the server; two missed heartbeats make a new pull. Default 1 second;
   * at most half of `pullExpires` (the server refuses a pull with more; `make` fails with `InvalidConfig`).
   */
  readonly heartbeat?: Duration.Input
  /**
   * Members a group has at most, a count. Each member holds at most its `maxInFlight` unsettled messages;
   * the server bounds the whole group at `maxInFlight × membersPerGroup` (JetStream's `max_ack_pending`).
   * Default 64.
   */
  readonly membersPerGroup?: number
  /** How long an abandoned broadcast subscription's consumer survives on the server. Default 1 minute. */
  readonly broadcastInactiveThreshold?: Duration.Input
  /**
   * The KV bucket that keeps what became of each redelivered message's earlier deliveries (how many failed,
   * how many a stopping consumer handed back), so that a restart does not spend a message's attempts.
   * Created on first use, with the transport's `replicas`. A name of letters, digits, `_` and `-`. Default
   * `"sluice_delivery_history"`.
   */
  readonly historyBucket?: string
  /**
   * How long a message's delivery history is kept after it was last written. A message delivered again later
   * counts its earlier deliveries as abandoned. Default 30 days.
   */
  readonly historyTtl?: Duration.Input
  /**
   * How long the connection may stay lost (status `"reconnecting"`) before every subscription's stream fails
   * with `TransportUnavailable`, and with it every consumer's `done`. The connection goes on reconnecting:
   * publishes and new subscriptions work again once it is back. Default 1 minute; `"Infinity"` waits for ever.
   */
  readonly disconnectTimeout?: Duration.Input
}

const DEFAULT_HISTORY_BUCKET = "sluice_delivery_history"
const DEFAULT_HISTORY_TTL = Duration.days(30)

/** Room left under the server's `max_payload` for the headers a message carries, in bytes. */
const HEADER_ROOM = 4096
const DEFAULT_SERVER_MAX_PAYLOAD = 1024 * 1024
const DEFAULT_DISCONNECT_TIMEOUT = "1 minute"

/** What the NATS transport offers, against a server with the default `max_payload` of 1 MiB. */
export const features: Transport.TransportFeatures = {
  name: "nats",
  durable: true,
  virtualTime: false,
  maxPayloadBytes: DEFAULT_SERVER_MAX_PAYLOAD - HEADER_ROOM,
  // JetStream keeps no count of what retention removes: a group's cursor moves past it, a stream's first
  // sequence too.
  countsRemovals: false
}

/**
 * Connects to NATS (or uses `options.connection`) for as long as the scope lasts. Fails with `InvalidConfig`,
 * before connecting, naming the option and the value, when an option is of the wrong kind or out of range
 * (`replicas` from 1 to 5, `storage` "file" or "memory", counts whole and at least 1, durations above zero
 * and finite but `disconnectTimeout`, which may be "Infinity", `historyBucket` a KV bucket name), when the
 * pull settings are ones the server would refuse (a `heartbeat` above half of `pullExpires`), and when the connection lacks
 * an internal of the client that the transport uses (a connection of another client than the one Sluice
 * supports; the error names both); with `AuthenticationFailed` when the server refuses the credentials; with
 * `TransportUnavailable` when no server could be reached.
 */
export const make = (
  options: NatsTransportOptions = {}
): Effect.Effect<Transport.Transport, Errors.ConnectError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* Effect.fromResult(checkOptions(options))
    const pull = yield* Effect.fromResult(pullSettingsOf(options))
    const redact = redactorOf(options)
    const target = yield* Effect.fromResult(targetOf(options))
    const nc =
      options.connection ??
      (yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => open(options, target),
          catch: (error) => connectFailure(error, redact, addressOf(options))
        }),
        (connection) => Effect.promise(() => connection.close().catch(() => undefined))
      ))
    const internals = yield* Effect.fromResult(clientInternalsOf(nc))
    const status = new ConnectionStatus(
      nc.isClosed(),
      internals.connected(),
      yield* Effect.fromResult(internals.statusEvents()),
      millis(options.disconnectTimeout ?? DEFAULT_DISCONNECT_TIMEOUT)
    )
    // Closed before the connection is, so that its readers see "closed" first.
    yield* Effect.addFinalizer(() => Effect.sync(() => status.close()))
    const timeout = millis(options.requestTimeout ?? "5 seconds")
    const commands = new CommandBuffer(nc, internals.writeCommands)
    const confirmations = new Confirmations(nc, internals.requests, timeout)
    yield* Effect.addFinalizer(() => Effect.sync(() => confirmations.close()))
    const jsm: JetStreamManager = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc, { timeout }),
      catch: (error) => unavailable("connect", error, redact)
    })
    // Sluice needs what nats-server 2.9 offers (pull consumers with heartbeats, nak delays, backoff), and
    // uses nothing newer, so any later server works the same way.
    const version = nc.info?.version ?? "0.0.0"
    const [major = 0, minor = 0] = version.split(".").map(Number)
    if (major < 2 || (major === 2 && minor < 9))
      return yield* new Errors.TransportUnavailable({
        operation: "connect",
        reason: `nats-server ${version} is too old: Sluice needs 2.9 or later`
      })
    const serverMaxPayload = nc.info?.max_payload ?? DEFAULT_SERVER_MAX_PAYLOAD
    const maxPayloadBytes = serverMaxPayload - HEADER_ROOM
    const storage = options.storage ?? "file"
    const replicas = options.replicas ?? 1
    const membersPerGroup = options.membersPerGroup ?? 64
    const inactiveNanos = nanos(options.broadcastInactiveThreshold ?? "1 minute")
    const histories = new DeliveryHistories(nc, {
      bucket: options.historyBucket ?? DEFAULT_HISTORY_BUCKET,
      ttlMillis: millis(options.historyTtl ?? DEFAULT_HISTORY_TTL),
      replicas
    })
    const lingering = new Lingering()
    // Closed subscriptions hand their messages back once their pulls are gone, at most a pull's expiry later.
    yield* Effect.addFinalizer(() => Effect.promise(() => lingering.settled()))
    const subscriberContext: SubscriberContext = {
      connection: nc,
      jsm,
      commands,
      inboxPrefix: internals.inboxPrefix,
      pull,
      histories,
      lingering,
      timeoutMillis: timeout,
      redact,
      status
    }

    /** A call to the JetStream API; a missing stream is `TopicNotFound`, anything else unexpected is transient. */
    const call = <A>(operation: string, topic: string, run: () => Promise<A>) =>
      Effect.tryPromise({
        try: run,
        catch: (error) => apiFailure(operation, error, redact, topic)
      })

    /** The stream of a topic, or `undefined` when there is none. */
    const streamOf = (operation: string, stream: string) =>
      Effect.tryPromise({
        try: () =>
          jsm.streams.info(stream).then(
            (info) => info,
            (error: unknown) => (isStreamNotFound(error) ? undefined : Promise.reject(error))
          ),
        catch: (error) => unavailable(operation, error, redact)
      })

    /**
     * A stream call that creates or changes settings. The server refuses a setting it cannot apply (replicas
     * beyond the cluster, a subject another stream serves) with an error code that says so; anything else is
     * the server being unavailable.
     */
    const configure = <A>(operation: string, topic: string, run: () => Promise<A>) =>
      Effect.tryPromise({
        try: run,
        catch: (error): Errors.InvalidConfig | Errors.TransportUnavailable =>
          isConfigRefused(error)
            ? new Errors.InvalidConfig({ reason: `topic "${topic}": ${redact.text(messageOf(error))}` })
            : unavailable(operation, error, redact)
      })

    /** The stream serves the topic's subject alone, and keeps its messages where this transport does. */
    const streamOfTopic = (topic: string, info: StreamInfo) =>
      Effect.gen(function* () {
        const { config } = info
        if (JSON.stringify(config.subjects) !== JSON.stringify([topic]))
          return yield* new Errors.InvalidConfig({
            reason: `stream "${config.name}" exists and serves other subjects (${config.subjects.join(", ")}), not topic "${topic}"`
          })
        const stored = storageOf(config)
        const differences: ReadonlyArray<Transport.SettingDifference> =
          stored === storage ? [] : [{ setting: "storage", stored, asked: storage }]
        return differences
      })

    const ensureTopic = (
      config: Transport.TopicConfig
    ): Effect.Effect<void, Errors.InvalidName | Errors.InvalidConfig | Errors.TransportUnavailable> =>
      Effect.gen(function* () {
        yield* Effect.fromResult(TransportChecks.topicName(config.name))
        yield* Effect.fromResult(TransportChecks.topicConfig(config))
        const stream = streamName(config.name)
        const compare = (info: StreamInfo) =>
          Effect.flatMap(streamOfTopic(config.name, info), (extra) =>
            Effect.fromResult(TransportChecks.sameTopic(topicSettingsOf(info.config), config, extra))
          )
        const current = yield* streamOf("ensureTopic", stream)
        if (current !== undefined) return yield* compare(current)
        const wanted = streamConfigOf(config.name, TransportDefaults.topicSettingsOf(config, replicas), storage)
        // Another process may have created it in between: then it is compared as any existing topic is.
        yield* configure("ensureTopic", config.name, () => jsm.streams.add(wanted)).pipe(
          Effect.asVoid,
          Effect.catchTag("InvalidConfig", (error) =>
            Effect.flatMap(streamOf("ensureTopic", stream), (raced) =>
              raced === undefined ? Effect.fail(error) : compare(raced)
            )
          )
        )
      })

    const updateTopic = (
      config: Transport.TopicConfig,
      options?: Transport.UpdateTopicOptions
    ): Effect.Effect<
      ReadonlyArray<Transport.SettingDifference>,
      Errors.InvalidName | Errors.InvalidConfig | Errors.TopicNotFound | Errors.TransportUnavailable
    > =>
      Effect.gen(function* () {
        yield* Effect.fromResult(TransportChecks.updateOptions(options))
        yield* Effect.fromResult(TransportChecks.topicName(config.name))
        yield* Effect.fromResult(TransportChecks.topicConfig(config))
        const current = yield* streamOf("updateTopic", streamName(config.name))
        if (current === undefined) return yield* new Errors.TopicNotFound({ topic: config.name })
        const storageDifferences = yield* streamOfTopic(config.name, current)
        if (storageDifferences.length > 0)
          return yield* new Errors.InvalidConfig({
            reason: `topic "${config.name}" is stored in ${storageOf(current.config)} storage and cannot move to ${storage} storage in place`,
            option: "storage",
            differences: storageDifferences
          })
        const wanted = TransportDefaults.topicSettingsOf(config, replicas)
        const changes = TransportChecks.topicDifferences(topicSettingsOf(current.config), wanted)
        if (changes.length === 0) return changes
        const { state } = current
        const held = {
          messages: state.messages,
          bytes: state.bytes,
          oldestAt: state.messages === 0 ? undefined : Date.parse(state.first_ts)
        }
        yield* Effect.fromResult(
          TransportChecks.updatable(config.name, held, wanted, changes, options?.allowDiscard, Date.now())
        )
        yield* configure("updateTopic", config.name, () =>
          jsm.streams.update(current.config.name, streamConfigOf(config.name, wanted, storage))
        )
        yield* TransportChecks.logChanges(changes, { topic: config.name })
        return changes
      })

    /** Why a publish of `record` failed, as a typed error. */
    const publishFailure = (record: Transport.OutgoingRecord, error: unknown): Effect.Effect<Errors.RecordError> => {
      const stream = () => jsm.streams.info(streamName(record.topic))
      if (isStoreFailed(error))
        // The stream did not store it: at a limit when it rejects new messages there, which its settings tell.
        return Effect.match(call("publish", record.topic, stream), {
          onFailure: (cause) => cause,
          onSuccess: (info) => topicFullOf(record.topic, info) ?? unavailable("publish", error, redact)
        })
      // Checked before sending; the client refuses it too should the server's limit have shrunk since.
      if (isOverMaxPayload(error))
        return Effect.succeed(
          new Errors.PayloadTooLarge({
            topic: record.topic,
            size: record.payload.byteLength + (wireHeaderBytes(record, 0) ?? 0),
            limit: nc.info?.max_payload ?? serverMaxPayload
          })
        )
      if (isNoResponders(error))
        // No stream took the message: find out whether the topic exists or JetStream is unavailable.
        return Effect.match(call("publish", record.topic, stream), {
          onFailure: (cause) => cause,
          onSuccess: () => unavailable("publish", error, redact)
        })
      return Effect.succeed(unavailable("publish", error, redact))
    }

    /** A batch's failure, with the receipts of the records that were stored all the same, once every one settled. */
    const partFailure = (
      sent: ReadonlyArray<Promise<Transport.PublishReceipt>>,
      cause: Errors.RecordError
    ): Effect.Effect<never, Errors.PublishError> =>
      Effect.flatMap(
        Effect.promise(() => Promise.allSettled(sent)),
        (settled) => {
          const receipts = settled.map((outcome) => (outcome.status === "fulfilled" ? outcome.value : undefined))
          const topic = receipts.find((receipt) => receipt !== undefined)?.topic
          return Effect.fail(topic === undefined ? cause : new Errors.PartiallyPublished({ topic, receipts, cause }))
        }
      )

    // Names that passed the check once: a topic is published to many times.
    const validTopics = new Set<string>()
    const publish = (records: ReadonlyArray<Transport.OutgoingRecord>) =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<Transport.PublishReceipt>, Errors.PublishError> => {
        for (const record of records) {
          if (!validTopics.has(record.topic)) {
            const name = TransportChecks.topicName(record.topic)
            if (name._tag === "Failure") return Effect.fail(name.failure)
            validTopics.add(record.topic)
          }
          const rejected = TransportChecks.record(record, maxPayloadBytes)
          if (rejected !== undefined) return Effect.fail(rejected)
          // The server's max_payload counts headers too: a message they take over it is refused whole, here.
          const headerBytes = wireHeaderBytes(record, serverMaxPayload - record.payload.byteLength)
          if (headerBytes !== undefined && record.payload.byteLength + headerBytes > serverMaxPayload)
            return Effect.fail(
              new Errors.PayloadTooLarge({
                topic: record.topic,
                size: record.payload.byteLength + headerBytes,
                limit: serverMaxPayload
              })
            )
        }
        let failed: Transport.OutgoingRecord | undefined
        // Every publish is sent at once and confirmed on its own; the batch waits for all confirmations.
        const send = (record: Transport.OutgoingRecord) =>
          confirmations.publish(record.topic, record.payload, wireHeadersOf(record)).then(
            (ack): Transport.PublishReceipt => ({ topic: record.topic, sequence: ack.seq, duplicate: ack.duplicate }),
            (error) => {
              failed ??= record
              throw error
            }
          )
        const sent = records.map(send)
        return Effect.tryPromise({ try: () => Promise.all(sent), catch: (error) => error }).pipe(
          Effect.catch((error) =>
            Effect.flatMap(publishFailure(failed ?? (records[0] as Transport.OutgoingRecord), error), (cause) =>
              records.length === 1 ? Effect.fail(cause) : partFailure(sent, cause)
            )
          )
        )
      })

    /** The durable consumer of a group, or `undefined` when there is none. */
    const consumerOf = (operation: string, stream: string, topic: string, group: string) =>
      Effect.tryPromise({
        try: () =>
          jsm.consumers.info(stream, group).then(
            (info) => info,
            (error: unknown) => (isConsumerNotFound(error) ? undefined : Promise.reject(error))
          ),
        catch: (error) => apiFailure(operation, error, redact, topic)
      })

    /**
     * The durable consumer of a group: created at its start position when new. An existing one keeps its
     * settings (the subscription's must match where given); its bound on the group's unsettled messages only
     * grows, to room for `membersPerGroup` members of the largest `maxInFlight` that joined.
     */
    const joinGroup = (stream: string, topic: string, group: string, subscription: Transport.SubscriptionOptions) =>
      Effect.gen(function* () {
        const conflict = (reason: string, cause?: unknown) =>
          new Errors.Conflict({
            operation: "subscribe",
            server: nc.getServer(),
            topic,
            group,
            reason: redact.text(reason),
            ...(cause === undefined ? {} : { cause: redact.error(cause) })
          })
        const join = (existing: ConsumerInfo) =>
          Effect.gen(function* () {
            const incompatibility = incompatibilityOf(existing.config, topic)
            if (incompatibility !== undefined) return yield* conflict(incompatibility)
            yield* Effect.fromResult(
              TransportChecks.sameGroup(topic, group, groupSettingsOf(existing.config), subscription)
            )
            const stored = existing.config.max_ack_pending ?? 0
            const wanted = maxAckPendingOf(subscription, membersPerGroup)
            if (stored > 0 && wanted > stored) {
              yield* Effect.tryPromise({
                try: () => jsm.consumers.update(stream, group, { max_ack_pending: wanted }),
                catch: (error) =>
                  isConsumerRefused(error)
                    ? conflict(`is taken by a consumer the server refuses to change: ${messageOf(error)}`, error)
                    : apiFailure("subscribe", error, redact, topic)
              })
              yield* TransportChecks.logChanges(
                [{ setting: "max_ack_pending", stored: String(stored), asked: String(wanted) }],
                { topic, group }
              )
            }
          })
        const existing = yield* consumerOf("subscribe", stream, topic, group)
        if (existing !== undefined) return yield* Effect.as(join(existing), group)
        // nats-server 2.9 makes an existing consumer's settings those asked, should another member have
        // created the group in between; later servers refuse, and the group is then joined as it is.
        yield* call("subscribe", topic, () =>
          jsm.consumers.add(stream, consumerConfigOf(subscription, membersPerGroup, inactiveNanos))
        ).pipe(
          Effect.catchTag("TransportUnavailable", (error) =>
            Effect.flatMap(consumerOf("subscribe", stream, topic, group), (raced) =>
              raced === undefined ? Effect.fail(error) : join(raced)
            )
          )
        )
        return group
      })

    const updateGroup = (
      topic: string,
      group: string,
      config: Transport.GroupConfig
    ): Effect.Effect<ReadonlyArray<Transport.SettingDifference>, Errors.TransportError> =>
      Effect.gen(function* () {
        yield* Effect.fromResult(TransportChecks.topicName(topic))
        yield* Effect.fromResult(TransportChecks.groupName(group))
        yield* Effect.fromResult(TransportChecks.subscription({ ...config, topic }))
        const stream = streamName(topic)
        const existing = yield* Effect.tryPromise({
          try: () => jsm.consumers.info(stream, group),
          catch: (error) => apiFailure("updateGroup", error, redact, topic, group)
        })
        const changes = TransportChecks.groupDifferences(
          groupSettingsOf(existing.config),
          TransportDefaults.groupSettingsOf(config)
        )
        if (changes.length === 0) return changes
        yield* call("updateGroup", topic, () => jsm.consumers.update(stream, group, groupConfigOf(config)))
        yield* TransportChecks.logChanges(changes, { topic, group })
        return changes
      })

    /** A broadcast subscription's own consumer, deleted when the subscription ends. */
    const broadcastConsumer = (stream: string, topic: string, subscription: Transport.SubscriptionOptions) =>
      Effect.acquireRelease(
        Effect.map(
          call("subscribe", topic, () =>
            jsm.consumers.add(stream, consumerConfigOf(subscription, membersPerGroup, inactiveNanos))
          ),
          (info) => info.name
        ),
        (name) => Effect.promise(() => jsm.consumers.delete(stream, name).catch(() => false))
      )

    const subscribe = (
      subscription: Transport.SubscriptionOptions
    ): Effect.Effect<Stream.Stream<Transport.Delivery, Errors.TransportError>, Errors.TransportError, Scope.Scope> =>
      Effect.gen(function* () {
        const topic = yield* Effect.fromResult(TransportChecks.topicName(subscription.topic))
        const group = subscription.group
        if (group !== undefined) yield* Effect.fromResult(TransportChecks.groupName(group))
        yield* Effect.fromResult(TransportChecks.subscription(subscription))
        const stream = streamName(topic)
        const consumer =
          group === undefined
            ? yield* broadcastConsumer(stream, topic, subscription)
            : yield* joinGroup(stream, topic, group, subscription)
        return yield* Subscriber.start(subscriberContext, { topic, stream, consumer, subscription })
      })

    const lag = (topic: string, group: string): Effect.Effect<Transport.GroupLag, Errors.TransportError> =>
      Effect.gen(function* () {
        yield* Effect.fromResult(TransportChecks.topicName(topic))
        yield* Effect.fromResult(TransportChecks.groupName(group))
        const stream = streamName(topic)
        const consumer = yield* Effect.tryPromise({
          try: () => jsm.consumers.info(stream, group),
          catch: (error) => apiFailure("lag", error, redact, topic, group)
        })
        return {
          pending: consumer.num_pending,
          inFlight: consumer.num_ack_pending,
          missed: undefined
        }
      })

    const topicInfo = (topic: string): Effect.Effect<Transport.TopicInfo, Errors.TransportError> =>
      Effect.gen(function* () {
        yield* Effect.fromResult(TransportChecks.topicName(topic))
        const { state } = yield* call("topicInfo", topic, () => jsm.streams.info(streamName(topic)))
        return {
          name: topic,
          messages: state.messages,
          bytes: state.bytes,
          firstSequence: state.messages === 0 ? state.last_seq + 1 : state.first_seq,
          lastSequence: state.last_seq,
          expired: undefined,
          discarded: undefined
        }
      })

    return {
      features: { ...features, maxPayloadBytes },
      status: status.stream,
      ensureTopic,
      updateTopic,
      publish,
      subscribe,
      updateGroup,
      lag,
      topicInfo
    } satisfies Transport.Transport
  })

/** The NATS transport as the `TransportService` of a layer; the connection closes with the layer. */
export const layer = (
  options: NatsTransportOptions = {}
): Layer.Layer<Transport.TransportService, Errors.ConnectError> =>
  Layer.effect(Transport.TransportService, make(options))

/**
 * Options for `Sluice.connect` that use NATS: `await Sluice.connect(nats({ servers }))`. `connect` rejects with
 * the layer's errors: `AuthenticationFailed`, `TransportUnavailable`, `InvalidConfig`.
 */
export const nats = (
  options: NatsTransportOptions = {}
): {
  readonly transport: Layer.Layer<Transport.TransportService, Errors.ConnectError>
} => ({
  transport: layer(options)
})
