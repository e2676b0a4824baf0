/**
 * The rules of the transport's options, one per option, checked by `make` before anything connects.
 *
 * Invariant: an option of the wrong kind or out of range fails `make` with `InvalidConfig` naming the option
 * and the value (a secret's kind, never its value), before a connection
 * is tried.
 *
 * Why: a bad option found at connect time, or later by the server, fails far from where it was written.
 */
import { type Errors, TransportChecks } from "@sluice/core"
import type { Result } from "effect"
import type { NatsTransportOptions } from "../NatsTransport.ts"

const { choiceRule, countRule, durationRule, flagRule, functionRule, objectRule, oneOrListRule, secretRule, textRule } =
  TransportChecks

/** What the server accepts as a number of stream replicas. */
const MAX_REPLICAS = 5
/** A KV bucket's name, as the NATS client accepts it. */
const BUCKET_NAME = /^[-\w]+$/

/** Each option of `NatsTransportOptions`, with its rule: an option without one does not compile. */
const rules: { readonly [Option in keyof NatsTransportOptions]-?: TransportChecks.OptionRule } = {
  servers: oneOrListRule(textRule(), 'a server URL (such as "nats://127.0.0.1:4222") or a non-empty list of them'),
  name: textRule(),
  user: textRule(),
  pass: secretRule,
  token: secretRule,
  nkeySeed: secretRule,
  credentialsFile: textRule(),
  authenticator: oneOrListRule(functionRule, "a NATS authenticator (a function) or a non-empty list of them"),
  tls: objectRule({
    ca: textRule(),
    caFile: textRule(),
    cert: textRule(),
    certFile: textRule(),
    key: secretRule,
    keyFile: textRule(),
    handshakeFirst: flagRule
  }),
  connectionOptions: objectRule({}),
  connection: objectRule({}),
  storage: choiceRule(["file", "memory"]),
  replicas: countRule({ max: MAX_REPLICAS }),
  requestTimeout: durationRule(),
  pullBatch: countRule(),
  pullExpires: durationRule(),
  heartbeat: durationRule(),
  membersPerGroup: countRule(),
  broadcastInactiveThreshold: durationRule(),
  historyBucket: textRule(BUCKET_NAME, 'a KV bucket name: letters, digits, "_" and "-"'),
  historyTtl: durationRule(),
  disconnectTimeout: durationRule({ infinite: true })
}

/** The first problem with the transport's options, before it connects. */
export const checkOptions = (options: unknown): Result.Result<void, Errors.InvalidConfig> =>
  TransportChecks.options(options, rules)
