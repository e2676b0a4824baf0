/**
 * NATS client errors as Sluice's typed errors, with secrets removed. An error is told apart by what the
 * server or the client says in code: a JetStream API error by its error code ({@link JetStreamCode}), a
 * client error by its class (`errors` of `@nats-io/nats-core`).
 *
 * Invariant: nothing here reads an error's text to classify it; an error it does not recognise is the
 * server being unavailable (transient). Texts reach Sluice's errors only as their `reason`, redacted.
 *
 * Why: the texts are the server's wording and change between versions; the codes are its API.
 */
import { DiscardPolicy, JetStreamApiError, type StreamInfo } from "@nats-io/jetstream"
import { errors } from "@nats-io/nats-core"
import { Errors } from "@sluice/core"
import type { Redactor } from "./secrets.ts"

/**
 * The JetStream API error codes the transport tells apart: nats-server's `err_code`s (its
 * `server/errors.json`), each seen from a real nats-server 2.9.10. The HTTP-like status the server sends
 * with each is in brackets.
 */
const JetStreamCode = {
  /** `JSStreamNotFoundErr` [404]: no stream of that name. */
  StreamNotFound: 10059,
  /** `JSConsumerNotFoundErr` [404]: the stream has no consumer of that name. */
  ConsumerNotFound: 10014,
  /**
   * `JSStreamStoreFailedF` [503]: the stream did not store a published message. The text says why; with
   * discard "new", a count or byte limit, which this code does not tell apart.
   */
  StreamStoreFailed: 10077,
  /** `JSStreamNameExistErr` [400]: a stream of that name exists with other settings. */
  StreamNameExist: 10058,
  /** `JSStreamSubjectOverlapErr` [400]: another stream serves the subject. */
  StreamSubjectOverlap: 10065,
  /** `JSStreamInvalidConfigF` [500]: a setting the server refuses, or cannot change (storage, retention). */
  StreamInvalidConfig: 10052,
  /** `JSStreamReplicasNotSupportedErr` [500]: more than one replica on a server without a cluster. */
  StreamReplicasNotSupported: 10074,
  /** `JSClusterNoPeersErrF` [400]: too few servers in the cluster (or with room enough) for the replicas. */
  ClusterNoPeers: 10005,
  /** `JSMemoryResourcesExceededErr` [500]: the server or account has no memory for the stream's limits. */
  MemoryResourcesExceeded: 10028,
  /** `JSStorageResourcesExceededErr` [500]: the server or account has no storage for the stream's limits. */
  StorageResourcesExceeded: 10047,
  /** `JSStreamMaxBytesRequired` [400]: the account requires each stream to set a byte limit. */
  StreamMaxBytesRequired: 10113,
  /** `JSStreamMaxStreamBytesExceeded` [400]: the byte limit exceeds what the account allows one stream. */
  StreamMaxStreamBytesExceeded: 10122,
  /** `JSMaximumStreamsLimitErr` [400]: the account has as many streams as it may. */
  MaximumStreamsLimit: 10027,
  /**
   * `JSConsumerCreateErrF` [500]: the consumer was not created or updated; the text says why (for an update,
   * a setting that "can not be updated": ack policy, deliver policy, push or pull).
   */
  ConsumerCreate: 10012,
  /** `JSConsumerMaxDeliverBackoffErr` [400]: the consumer's `backoff` has as many entries as its `max_deliver` or more. */
  ConsumerMaxDeliverBackoff: 10116
} as const

/** Refusals of a stream's settings: the same request would be refused again. */
const CONFIG_REFUSALS: ReadonlySet<number> = new Set([
  JetStreamCode.StreamNameExist,
  JetStreamCode.StreamSubjectOverlap,
  JetStreamCode.StreamInvalidConfig,
  JetStreamCode.StreamReplicasNotSupported,
  JetStreamCode.ClusterNoPeers,
  JetStreamCode.MemoryResourcesExceeded,
  JetStreamCode.StorageResourcesExceeded,
  JetStreamCode.StreamMaxBytesRequired,
  JetStreamCode.StreamMaxStreamBytesExceeded,
  JetStreamCode.MaximumStreamsLimit
])

/** Refusals of a consumer's settings: the same request would be refused again. */
const CONSUMER_REFUSALS: ReadonlySet<number> = new Set([
  JetStreamCode.ConsumerCreate,
  JetStreamCode.ConsumerMaxDeliverBackoff
])

/** The message of an error, or the text of anything thrown. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** A failure to reach the server or get an answer: transient. */
export const unavailable = (operation: string, error: unknown, redact: Redactor): Errors.TransportUnavailable =>
  new Errors.TransportUnavailable({ operation, reason: redact.text(messageOf(error)), cause: redact.error(error) })

/**
 * A failure to connect: credentials the server refused are `AuthenticationFailed` (permanent), a server URL
 * the client cannot read is `InvalidConfig`, anything else the server being unavailable (transient).
 *
 * @param servers The servers the connection was given.
 */
export const connectFailure = (error: unknown, redact: Redactor, servers: string): Errors.ConnectError => {
  const server = redact.text(servers)
  if (error instanceof errors.AuthorizationError || error instanceof errors.UserAuthenticationExpiredError)
    return new Errors.AuthenticationFailed({
      operation: "connect",
      server,
      reason: redact.text(messageOf(error)),
      cause: redact.error(error)
    })
  // Node's URL parser, which the client uses, says so with this code (its text would hold the whole URL).
  if (error instanceof TypeError && (error as { code?: unknown }).code === "ERR_INVALID_URL")
    return new Errors.InvalidConfig({
      option: "servers",
      reason: `servers must be NATS server URLs (nats://host:port, or host:port), not ${server}`
    })
  return unavailable("connect", error, redact)
}

/** The JetStream API error code of `error`, or of the API error the client wrapped in it (`JetStreamNotEnabled`). */
const codeOf = (error: unknown): number | undefined => {
  if (error instanceof JetStreamApiError) return error.code
  return error instanceof Error && error.cause instanceof JetStreamApiError ? error.cause.code : undefined
}

/** The request named a stream that does not exist. */
export const isStreamNotFound = (error: unknown): boolean => codeOf(error) === JetStreamCode.StreamNotFound

/** The request named a consumer that does not exist. */
export const isConsumerNotFound = (error: unknown): boolean => codeOf(error) === JetStreamCode.ConsumerNotFound

/** The server refused a stream's settings (see {@link JetStreamCode}): asking again would not help. */
export const isConfigRefused = (error: unknown): boolean => {
  const code = codeOf(error)
  return code !== undefined && CONFIG_REFUSALS.has(code)
}

/** The server refused a consumer's settings (see {@link JetStreamCode}): asking again would not help. */
export const isConsumerRefused = (error: unknown): boolean => {
  const code = codeOf(error)
  return code !== undefined && CONSUMER_REFUSALS.has(code)
}

/** The stream did not store a published message (at a limit with discard "new", among other reasons). */
export const isStoreFailed = (error: unknown): boolean => codeOf(error) === JetStreamCode.StreamStoreFailed

/** The request found no server to answer it: with JetStream up, the subject has no stream. */
export const isNoResponders = (error: unknown): boolean => error instanceof errors.NoRespondersError

/** The client refused to send a message above the server's `max_payload`: the only `InvalidArgumentError` its `publish` throws. */
export const isOverMaxPayload = (error: unknown): boolean => error instanceof errors.InvalidArgumentError

/**
 * The limit a stream that did not store a message is at, as `TopicFull`, read from its settings and
 * state since the server's code does not tell (see {@link JetStreamCode.StreamStoreFailed}); `undefined`
 * when it refuses nothing at its limits (discard "old") or has none.
 */
export const topicFullOf = (topic: string, stream: StreamInfo): Errors.TopicFull | undefined => {
  const { config, state } = stream
  if (config.discard !== DiscardPolicy.New) return undefined
  if (config.max_msgs > 0 && (config.max_bytes <= 0 || state.messages >= config.max_msgs))
    return new Errors.TopicFull({ topic, limit: "messages" })
  return config.max_bytes > 0 ? new Errors.TopicFull({ topic, limit: "bytes" }) : undefined
}

/**
 * A failed JetStream API call as Sluice's error: a missing stream is `TopicNotFound`, a missing consumer
 * `GroupNotFound` (when the call named a group), anything else the server being unavailable.
 */
export function apiFailure(
  operation: string,
  error: unknown,
  redact: Redactor,
  topic: string
): Errors.TopicNotFound | Errors.TransportUnavailable
export function apiFailure(
  operation: string,
  error: unknown,
  redact: Redactor,
  topic: string,
  group: string
): Errors.TopicNotFound | Errors.GroupNotFound | Errors.TransportUnavailable
export function apiFailure(
  operation: string,
  error: unknown,
  redact: Redactor,
  topic: string,
  group?: string
): Errors.TopicNotFound | Errors.GroupNotFound | Errors.TransportUnavailable {
  if (isStreamNotFound(error)) return new Errors.TopicNotFound({ topic })
  if (group !== undefined && isConsumerNotFound(error)) return new Errors.GroupNotFound({ topic, group })
  return unavailable(operation, error, redact)
}
