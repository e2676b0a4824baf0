/**
 * @sluice/transport-nats: the NATS JetStream transport of Sluice. The test harness (real NATS servers on
 * loopback) is the subpath `@sluice/transport-nats/testing`.
 *
 * Invariant: this entry point exports the transport alone: nothing of the harness, nothing internal.
 *
 * Why: an application that imports the transport loads no test code.
 */
export * as NatsTransport from "./NatsTransport.ts"
