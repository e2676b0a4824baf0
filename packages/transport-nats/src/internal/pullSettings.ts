/**
 * How a subscriber pulls (batch, expiry, heartbeat), read from the transport's options with their defaults.
 *
 * Invariant: the settings it returns are ones the server accepts: of options each of which passed its own
 * check (`options.ts`), a heartbeat at most half the expiry; others fail with `InvalidConfig` before anything
 * connects.
 *
 * Why: the server answers a pull whose heartbeat exceeds half its expiry with "400 Bad Request", so a
 * subscriber with such settings would never receive a message.
 */
import { Errors } from "@sluice/core"
import { type Duration, Result } from "effect"
import { millis } from "./durations.ts"

export interface PullSettings {
  /** Most messages one pull asks for, a count. */
  readonly batch: number
  /** How long a pull waits at the server, in milliseconds. */
  readonly expiresMillis: number
  /** How often a waiting pull hears from the server, in milliseconds. */
  readonly heartbeatMillis: number
}

export interface PullOptions {
  readonly pullBatch?: number
  readonly pullExpires?: Duration.Input
  readonly heartbeat?: Duration.Input
}

export const pullSettingsOf = (options: PullOptions): Result.Result<PullSettings, Errors.InvalidConfig> => {
  const batch = options.pullBatch ?? 1000
  const expiresMillis = millis(options.pullExpires ?? "3 seconds")
  const heartbeatMillis = millis(options.heartbeat ?? "1 second")
  if (!(heartbeatMillis * 2 <= expiresMillis))
    return Result.fail(
      new Errors.InvalidConfig({
        option: "heartbeat",
        reason: `heartbeat (${heartbeatMillis} ms) must be at most half of pullExpires (${expiresMillis} ms)`
      })
    )
  return Result.succeed({ batch, expiresMillis, heartbeatMillis })
}
