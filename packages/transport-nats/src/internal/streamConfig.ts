/**
 * The JetStream stream of a topic: limits retention, the transport's storage and replicas unless the topic
 * says otherwise, the topic's limits, discard policy and dedup window.
 *
 * Invariant: `changedSettings` compares exactly the settings `streamConfigOf` sets, so ensuring a topic
 * again with the same config changes nothing; the dedup window never exceeds the max age (JetStream
 * refuses one that does).
 *
 * Why: creating and updating a stream read the same settings from one place.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from "@nats-io/jetstream"
import { type Transport, TransportDefaults } from "@sluice/core"
import { Duration } from "effect"
import { nanos } from "./durations.ts"
import { streamName } from "./names.ts"

/** Where streams keep their messages. */
export type Storage = "file" | "memory"

/** The settings of the stream that stores a topic (a JetStream dedup window may not exceed the max age). */
export const streamConfigOf = (
  config: Transport.TopicConfig,
  defaults: { readonly storage: Storage; readonly replicas: number }
): StreamConfig => {
  const dedupWindow = TransportDefaults.dedupWindowOf(config)
  const window = config.maxAge === undefined ? dedupWindow : Math.min(dedupWindow, Duration.toMillis(config.maxAge))
  return {
    name: streamName(config.name),
    subjects: [config.name],
    retention: RetentionPolicy.Limits,
    storage: defaults.storage === "memory" ? StorageType.Memory : StorageType.File,
    num_replicas: config.replicas ?? defaults.replicas,
    max_msgs: config.maxMessages ?? -1,
    max_bytes: config.maxBytes ?? -1,
    max_age: config.maxAge === undefined ? 0 : nanos(config.maxAge),
    discard: config.discard === "new" ? DiscardPolicy.New : DiscardPolicy.Old,
    duplicate_window: nanos(window)
  } as StreamConfig
}

/** The settings of `wanted` that differ from `current`: what an update must change. */
export const changedSettings = (current: StreamConfig, wanted: StreamConfig): Array<string> =>
  (
    ["subjects", "storage", "num_replicas", "max_msgs", "max_bytes", "max_age", "discard", "duplicate_window"] as const
  ).filter((key) => JSON.stringify(current[key]) !== JSON.stringify(wanted[key]))
