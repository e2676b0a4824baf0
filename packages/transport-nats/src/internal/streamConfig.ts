/**
 * The JetStream stream of a topic: the transport's storage, and the topic's settings (retention, limits,
 * discard policy, dedup window, replicas), read back as the port's `TopicSettings`. A work-queue stream,
 * which Sluice never creates, reads as limits retention.
 *
 * Invariant: `topicSettingsOf(streamConfigOf(settings, storage))` is `settings`, so a topic ensured again
 * with the settings it was created with shows no difference; the dedup window never exceeds the max age
 * (`TransportDefaults.dedupWindowOf`; JetStream refuses one that does).
 *
 * Why: creating, comparing and updating a stream read the same settings from one place.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from "@nats-io/jetstream"
import type { Transport } from "@sluice/core"
import { millisOfNanos, nanos } from "./durations.ts"
import { streamName } from "./names.ts"

/** Where streams keep their messages. */
export type Storage = "file" | "memory"

/** The stream that stores topic `name` with `settings`. */
export const streamConfigOf = (name: string, settings: Transport.TopicSettings, storage: Storage): StreamConfig =>
  ({
    name: streamName(name),
    subjects: [name],
    retention: settings.retention === "interest" ? RetentionPolicy.Interest : RetentionPolicy.Limits,
    storage: storage === "memory" ? StorageType.Memory : StorageType.File,
    num_replicas: settings.replicas,
    max_msgs: settings.maxMessages ?? -1,
    max_bytes: settings.maxBytes ?? -1,
    max_age: settings.maxAge === undefined ? 0 : nanos(settings.maxAge),
    discard: settings.discard === "new" ? DiscardPolicy.New : DiscardPolicy.Old,
    duplicate_window: nanos(settings.dedupWindow)
  }) as StreamConfig

/** A stream's settings as the port's; a limit of -1 (or a max age of 0) is none. */
export const topicSettingsOf = (stream: StreamConfig): Transport.TopicSettings => ({
  maxMessages: stream.max_msgs > 0 ? stream.max_msgs : undefined,
  maxBytes: stream.max_bytes > 0 ? stream.max_bytes : undefined,
  maxAge: stream.max_age > 0 ? millisOfNanos(stream.max_age) : undefined,
  discard: stream.discard === DiscardPolicy.New ? "new" : "old",
  dedupWindow: millisOfNanos(stream.duplicate_window ?? 0),
  replicas: stream.num_replicas,
  retention: stream.retention === RetentionPolicy.Interest ? "interest" : "limits"
})

/** Where a stream keeps its messages, as the transport's option names it. */
export const storageOf = (stream: StreamConfig): Storage => (stream.storage === StorageType.Memory ? "memory" : "file")
