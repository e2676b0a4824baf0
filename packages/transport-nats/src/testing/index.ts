/**
 * @sluice/transport-nats/testing: real NATS servers for tests, a single
 * server and a JetStream cluster, with the faults a test needs (kill, pause,
 * restart on the same store).
 */
export * as NatsCluster from "./NatsCluster.ts"
export * as NatsServer from "./NatsServer.ts"
