/**
 * Free loopback ports, chosen by the OS.
 *
 * Invariant: the ports handed out are distinct, and never 4222, where the machine's own NATS listens.
 *
 * Why: a test server must not take the port of a server it did not start.
 */
import { createServer, type Server } from "node:net"

/** The machine's own NATS listens here; a test server must never take it. */
const NATS_DEFAULT_PORT = 4222

const listenOnAnyPort = (): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => resolve(server))
  })

const portOf = (server: Server): number => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("a TCP listener has no port")
  return address.port
}

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()))

/** Ports handed out one by one. */
export interface Ports {
  /** The next port; throws when all were taken, which is a bug in the caller. */
  readonly take: () => number
}

/**
 * `count` distinct ports that were free on 127.0.0.1 a moment ago: all are
 * bound to port 0 at the same time, then released. Another process may take
 * one before the server binds it; see {@link isPortClash}.
 */
export const freePorts = async (count: number): Promise<Ports> => {
  const servers: Array<Server> = []
  try {
    while (servers.length < count) {
      const server = await listenOnAnyPort()
      if (portOf(server) === NATS_DEFAULT_PORT) {
        await close(server)
        continue
      }
      servers.push(server)
    }
    const ports = servers.map(portOf)
    return {
      take: () => {
        const port = ports.shift()
        if (port === undefined) throw new Error(`only ${count} ports were reserved`)
        return port
      }
    }
  } finally {
    await Promise.all(servers.map(close))
  }
}

/** Whether a failed start was only a port taken between {@link freePorts} and the server's bind. */
export const isPortClash = (error: unknown): boolean =>
  error instanceof Error && error.message.includes("address already in use")
