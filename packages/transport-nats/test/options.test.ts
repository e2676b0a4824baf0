/**
 * Every option of the NATS transport is checked before anything connects: a bad one fails `make`, the layer
 * of `nats(...)` and `Sluice.connect` with `InvalidConfig` naming the option and the value, and no connection
 * reaches the server. A proxy in front of the test's server counts the connections that reach it.
 */
import { createConnection, createServer, type Server } from "node:net"
import { Sluice } from "@sluice/core"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

const server = await NatsServer.acquire()

/** A TCP proxy to the server that counts the connections made through it. */
const countingProxy = async () => {
  let connections = 0
  const proxy: Server = createServer((client) => {
    connections++
    const upstream = createConnection(server.port, "127.0.0.1")
    client.pipe(upstream).pipe(client)
    client.on("error", () => upstream.destroy())
    upstream.on("error", () => client.destroy())
  })
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve))
  const address = proxy.address()
  if (address === null || typeof address === "string") throw new Error("the proxy has no port")
  return {
    url: `nats://127.0.0.1:${address.port}`,
    get connections() {
      return connections
    },
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve()))
  }
}

const proxy = await countingProxy()
afterAll(async () => {
  await proxy.close()
  await server.stop()
})

type Options = NatsTransport.NatsTransportOptions

/** Each bad option, as a user could write it (the casts stand for JavaScript callers), and the option named. */
const bad: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
  [{ requestTimeout: "soon" }, "requestTimeout"],
  [{ requestTimeout: 0 }, "requestTimeout"],
  [{ pullBatch: 0 }, "pullBatch"],
  [{ pullBatch: 2.5 }, "pullBatch"],
  [{ pullBatch: "100" }, "pullBatch"],
  [{ pullExpires: "never" }, "pullExpires"],
  [{ pullExpires: "Infinity" }, "pullExpires"],
  [{ heartbeat: -1 }, "heartbeat"],
  [{ heartbeat: "2 seconds" }, "heartbeat"], // more than half of the default pullExpires (3 s)
  [{ membersPerGroup: 0 }, "membersPerGroup"],
  [{ membersPerGroup: Number.NaN }, "membersPerGroup"],
  [{ replicas: 0 }, "replicas"],
  [{ replicas: 6 }, "replicas"],
  [{ replicas: 1.5 }, "replicas"],
  [{ storage: "disk" }, "storage"],
  [{ broadcastInactiveThreshold: "later" }, "broadcastInactiveThreshold"],
  [{ historyBucket: "sluice.history" }, "historyBucket"],
  [{ historyBucket: "" }, "historyBucket"],
  [{ historyBucket: 7 }, "historyBucket"],
  [{ historyTtl: -5 }, "historyTtl"],
  [{ historyTtl: "Infinity" }, "historyTtl"],
  [{ disconnectTimeout: "soon" }, "disconnectTimeout"],
  [{ servers: 4222 }, "servers"],
  [{ servers: [] }, "servers"],
  [{ servers: ["nats://127.0.0.1:4222", 4223] }, "servers[1]"],
  [{ servers: "" }, "servers"],
  [{ name: 5 }, "name"],
  [{ user: 5 }, "user"],
  [{ pass: { secret: true } }, "pass"],
  [{ token: 5 }, "token"],
  [{ nkeySeed: 5 }, "nkeySeed"],
  [{ credentialsFile: true }, "credentialsFile"],
  [{ authenticator: "me" }, "authenticator"],
  [{ authenticator: [] }, "authenticator"],
  [{ tls: "on" }, "tls"],
  [{ tls: { ca: 5 } }, "tls.ca"],
  [{ tls: { handshakeFirst: "yes" } }, "tls.handshakeFirst"],
  [{ connectionOptions: "fast" }, "connectionOptions"],
  [{ connection: "nats://127.0.0.1:4222" }, "connection"]
]

const withProxy = (option: Record<string, unknown>): Options => ({ servers: proxy.url, ...option }) as Options

describe("NatsTransport options", () => {
  it("a good set of options connects through the proxy, which counts it", async () => {
    const before = proxy.connections
    const sluice = await Sluice.connect(
      NatsTransport.nats(
        withProxy({
          requestTimeout: "2 seconds",
          pullBatch: 10,
          pullExpires: "2 seconds",
          heartbeat: "1 second",
          membersPerGroup: 4,
          replicas: 1,
          storage: "memory",
          broadcastInactiveThreshold: "30 seconds",
          historyBucket: "sluice_options-test",
          historyTtl: "1 day",
          disconnectTimeout: "Infinity",
          name: "options-test",
          tls: undefined
        })
      )
    )
    await sluice.close()
    expect(proxy.connections).toBe(before + 1)
  })

  it.each(bad)("%o is refused by make with InvalidConfig naming %s, before connecting", async (option, named) => {
    const before = proxy.connections
    const refused = await Effect.runPromise(Effect.flip(Effect.scoped(NatsTransport.make(withProxy(option)))))
    expect(refused).toMatchObject({ _tag: "InvalidConfig", option: named })
    expect(proxy.connections).toBe(before)
  })

  it.each(bad)(
    "%o is refused by Sluice.connect(nats(...)) with InvalidConfig naming %s, before connecting",
    async (option, named) => {
      const before = proxy.connections
      const refused = await Sluice.connect(NatsTransport.nats(withProxy(option))).then(
        () => expect.fail("connected"),
        (error: unknown) => error
      )
      expect(refused).toMatchObject({ _tag: "InvalidConfig", option: named })
      expect((refused as Error).message).toContain(named)
      expect(proxy.connections).toBe(before)
    }
  )

  it("the error shows the value given, but never a credential's", async () => {
    const refused = await Sluice.connect(NatsTransport.nats(withProxy({ pullBatch: 2.5 }))).catch((error) => error)
    expect(refused.message).toBe("invalid configuration: pullBatch must be a whole number of at least 1, not 2.5")
    for (const secret of [
      { pass: 123456789 },
      { token: 123456789 },
      { nkeySeed: 123456789 },
      { tls: { key: 123456789 } }
    ]) {
      const refused = await Sluice.connect(NatsTransport.nats(withProxy(secret))).catch((error) => error)
      expect(refused.message).toMatch(/must be a text that is not empty, not a number$/)
      expect(refused.message).not.toContain("123456789")
    }
  })
})
