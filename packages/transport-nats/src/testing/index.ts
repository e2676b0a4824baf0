/**
 * @sluice/transport-nats/testing: real NATS servers for tests, a single server and a JetStream cluster, with
 * the faults a test needs (kill, pause, restart on the same store).
 *
 * Invariant: every server the harness starts is stopped, and its files removed, by its `stop` or at the
 * latest when Node exits.
 *
 * Why: the transport's faults are only real on real servers.
 */
export * as NatsCluster from "./NatsCluster.ts"
export * as NatsServer from "./NatsServer.ts"
