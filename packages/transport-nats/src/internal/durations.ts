/**
 * Durations as the numbers NATS wants: nanoseconds for the JetStream API, milliseconds for the client.
 *
 * Invariant: both read an Effect `Duration.Input` (a number is milliseconds) and name their unit.
 *
 * Why: a nanosecond field given milliseconds is a silent factor of a million.
 */
import { Duration } from "effect"

/** A duration in nanoseconds, as the JetStream API wants it. */
export const nanos = (duration: Duration.Input): number => Math.round(Duration.toMillis(duration) * 1_000_000)

/** A duration in milliseconds. */
export const millis = (duration: Duration.Input): number => Duration.toMillis(duration)

/** Nanoseconds of the JetStream API as milliseconds. */
export const millisOfNanos = (nanoseconds: number): number => nanoseconds / 1_000_000
