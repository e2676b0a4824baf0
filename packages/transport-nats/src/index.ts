/**
 * @sluice/transport-nats: the NATS JetStream transport of Sluice. The test
 * harness (a NATS server or cluster on loopback) is the subpath
 * `@sluice/transport-nats/testing`.
 */

export type { NatsTransportOptions } from "./NatsTransport.ts"
export * as NatsTransport from "./NatsTransport.ts"
