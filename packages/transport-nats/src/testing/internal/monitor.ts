/**
 * The HTTP monitoring endpoint of a nats-server, as 2.9.10 answers it. Plain `/healthz` is 200 once the
 * client port listens and JetStream is up; on a cluster node only once the node is in contact with a
 * JetStream meta leader and its streams are current (`?js-enabled-only=true` does not wait for that).
 * `/jsz?leader-only=true` is 200 on the meta leader only.
 *
 * Invariant: each request gives up after a second, so a frozen server is "not yet", never a hung test.
 *
 * Why: the endpoint tells readiness without a client connection and its reconnect logic.
 */

/** How long one monitoring request may take, in milliseconds. */
const REQUEST_TIMEOUT_MS = 1_000

const answersOk = async (url: string): Promise<boolean> => {
  const response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  await response.body?.cancel()
  return response.ok
}

/** Whether the server on monitoring port `port` of 127.0.0.1 reports itself healthy. */
export const isHealthy = (port: number): Promise<boolean> => answersOk(`http://127.0.0.1:${port}/healthz`)

/** Whether the server on monitoring port `port` of 127.0.0.1 is the JetStream meta leader of its cluster. */
export const isMetaLeader = (port: number): Promise<boolean> =>
  answersOk(`http://127.0.0.1:${port}/jsz?leader-only=true`)
