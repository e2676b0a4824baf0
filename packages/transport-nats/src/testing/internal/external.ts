/**
 * A server named by the NATS_URL environment variable: a server this test run did not start and must not
 * control.
 *
 * Invariant: it is checked once to answer (and to have JetStream, when asked) before a test uses it, and
 * the URL the harness reports carries no credentials.
 *
 * Why: nats.js ignores credentials in a URL, so they are taken out of it and passed on their own.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { NatsServerError } from "./NatsServerError.ts"

/** How long the reachability check may take to connect, in milliseconds. */
const CONNECT_TIMEOUT_MS = 5_000

/** Where the server is, and the credentials NATS_URL carried (nats.js ignores credentials in a URL). */
export interface ExternalAddress {
  /** The URL without credentials, safe to log. */
  readonly url: string
  readonly port: number
  readonly user?: string
  readonly pass?: string
}

/** The address in a NATS_URL value such as `nats://host:4222`, `host:4222` or `nats://user:pass@host`. */
export const parseNatsUrl = (value: string): ExternalAddress => {
  if (value.includes(",")) throw new NatsServerError({ reason: "NATS_URL must name one server, not a list" })
  let parsed: URL
  try {
    parsed = new URL(value.includes("://") ? value : `nats://${value}`)
  } catch {
    throw new NatsServerError({ reason: "NATS_URL is not a URL such as nats://127.0.0.1:4222" })
  }
  const port = parsed.port === "" ? 4222 : Number(parsed.port)
  const url = `${parsed.protocol}//${parsed.hostname}:${port}`
  const user = decodeURIComponent(parsed.username)
  const pass = decodeURIComponent(parsed.password)
  return { url, port, ...(user === "" ? {} : { user }), ...(pass === "" ? {} : { pass }) }
}

/** Connects once to check that the server answers and, when asked, has JetStream. */
export const checkReachable = async (address: ExternalAddress, jetstream: boolean): Promise<void> => {
  const { url, user, pass } = address
  try {
    const connection = await connect({
      servers: url,
      timeout: CONNECT_TIMEOUT_MS,
      reconnect: false,
      ...(user === undefined ? {} : { user }),
      ...(pass === undefined ? {} : { pass })
    })
    try {
      if (jetstream) await jetstreamManager(connection)
    } finally {
      await connection.close()
    }
  } catch (error) {
    throw new NatsServerError({
      reason: `the server of NATS_URL (${url}) cannot be used: ${error instanceof Error ? error.message : String(error)}`
    })
  }
}
