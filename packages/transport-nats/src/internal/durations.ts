import { Duration } from "effect"

/** A duration in nanoseconds, as the JetStream API wants it. */
export const nanos = (duration: Duration.Input): number => Math.round(Duration.toMillis(duration) * 1_000_000)

/** A duration in milliseconds. */
export const millis = (duration: Duration.Input): number => Duration.toMillis(duration)
