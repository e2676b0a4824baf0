/**
 * The one error of the NATS test harness.
 *
 * Invariant: its `reason` says what was tried and, for a spawned server, ends with the server's own log.
 *
 * Why: a test that fails on its server explains itself without a rerun.
 */
import { Data } from "effect"

/**
 * A NATS server for a test could not be found, started, controlled or stopped.
 * `reason` says what was tried and, for a spawned server, ends with its last
 * log lines, so a failing test explains itself.
 */
export class NatsServerError extends Data.TaggedError("NatsServerError")<{
  readonly reason: string
}> {
  override get message(): string {
    return `NATS test server: ${this.reason}`
  }
}

/** `error` as a {@link NatsServerError}, for the Effect face of the Promise functions. */
export const toNatsServerError = (error: unknown): NatsServerError =>
  error instanceof NatsServerError
    ? error
    : new NatsServerError({ reason: error instanceof Error ? error.message : String(error) })
