/**
 * The NATS test harness against the real nats-server: what a fault test
 * relies on (kill, pause, restart on the same store, a cluster's leaders)
 * works, and nothing is left behind.
 */

import { existsSync } from "node:fs"
import { setTimeout as sleep } from "node:timers/promises"
import { describe, expect, it, vi } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { NatsCluster, NatsServer } from "../src/testing/index.ts"

const encoder = new TextEncoder()

/** Whether a process with this PID exists: signal 0 checks without signalling. */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Runs `body` with a connection to `servers`, closed afterwards. */
const withConnection = async <A>(
  servers: string | Array<string>,
  body: (connection: NatsConnection) => Promise<A>
): Promise<A> => {
  const connection = await connect({ servers, timeout: 2_000 })
  try {
    return await body(connection)
  } finally {
    await connection.close()
  }
}

/** The rejection of `promise`, or fails the test when it resolves. */
const rejection = async (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => expect.fail("expected a rejection"),
    (error: unknown) => error
  )

/** Waits until `check` holds (a check that throws does not hold yet); fails naming `what` after `timeoutMs`. */
const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await sleep(100)
  }
  expect.fail(`expected ${what} within ${timeoutMs} ms`)
}

const publishThree = async (connection: NatsConnection, stream: string, replicas = 1): Promise<void> => {
  const manager = await jetstreamManager(connection)
  await manager.streams.add({ name: stream, subjects: [`${stream}.>`], num_replicas: replicas })
  const client = jetstream(connection)
  for (const n of [1, 2, 3]) {
    const ack = await client.publish(`${stream}.x`, encoder.encode(`m${n}`))
    expect(ack.seq).toBe(n)
  }
}

const messagesIn = (connection: NatsConnection, stream: string): Promise<number> =>
  jetstreamManager(connection).then(async (manager) => (await manager.streams.info(stream)).state.messages)

describe("NatsServer", () => {
  it("start gives a JetStream server on a free loopback port other than 4222", async () => {
    const server = await NatsServer.start()
    try {
      expect(server.kind).toBe("process")
      expect(server.url).toBe(`nats://127.0.0.1:${server.port}`)
      expect(server.port).not.toBe(4222)
      await withConnection(server.url, (connection) => publishThree(connection, "fresh"))
    } finally {
      await server.stop()
    }
  })

  it("after SIGKILL and a restart on the same port and store, the stream still holds its messages", async () => {
    const server = await NatsServer.start()
    try {
      await withConnection(server.url, (connection) => publishThree(connection, "survivor"))
      const { pid, port, storeDir } = server
      await server.kill()
      expect(server.running).toBe(false)
      expect(isAlive(pid)).toBe(false)

      await server.restart()
      expect(server.pid).not.toBe(pid)
      expect(server.port).toBe(port)
      expect(server.storeDir).toBe(storeDir)
      expect(await withConnection(server.url, (connection) => messagesIn(connection, "survivor"))).toBe(3)
    } finally {
      await server.stop()
    }
  })

  it("a paused server answers nothing until it is resumed", async () => {
    const server = await NatsServer.start()
    try {
      await withConnection(server.url, async (connection) => {
        await server.pause()
        const answer = await Promise.race([connection.flush().then(() => "pong"), sleep(300, "silence")])
        expect(answer).toBe("silence")
        await server.resume()
        await connection.flush()
      })
    } finally {
      await server.stop()
    }
  })

  it("stop ends the process and removes the store directory", async () => {
    const server = await NatsServer.start()
    await server.stop()
    expect(existsSync(server.storeDir)).toBe(false)
    expect(() => process.kill(server.pid, 0)).toThrow()
  })

  it("a server that refuses its config fails the start with its own words", async () => {
    // 2.9.10 does not know sync_interval (2.10 does).
    const error = await rejection(NatsServer.start({ configText: "sync_interval: always" }))
    expect(error).toBeInstanceOf(NatsServer.NatsServerError)
    expect(String(error)).toContain('unknown field "sync_interval"')
  })

  it("acquire uses the server named by NATS_URL and refuses to control it", async () => {
    const server = await NatsServer.start()
    vi.stubEnv("NATS_URL", server.url)
    try {
      const external = await NatsServer.acquire()
      expect(external.kind).toBe("external")
      expect(external.url).toBe(server.url)
      expect(await rejection(external.kill())).toBeInstanceOf(NatsServer.NatsServerError)
      expect(await rejection(external.restart())).toBeInstanceOf(NatsServer.NatsServerError)
      await external.stop()
      expect(isAlive(server.pid)).toBe(true)
      await withConnection(external.connectTarget.servers, (connection) => publishThree(connection, "external"))
    } finally {
      vi.unstubAllEnvs()
      await server.stop()
    }
  })

  it.effect("a scoped server is stopped and its store removed when the scope closes", () =>
    Effect.gen(function* () {
      const server = yield* Effect.scoped(
        Effect.tap(NatsServer.scopedProcess(), (server) => Effect.sync(() => expect(isAlive(server.pid)).toBe(true)))
      )
      expect(isAlive(server.pid)).toBe(false)
      expect(existsSync(server.storeDir)).toBe(false)
    })
  )
})

describe("NatsCluster", () => {
  it("elects a leader for an R3 stream, another when the leader is killed, and takes the restarted node back", async () => {
    const cluster = await NatsCluster.start()
    try {
      expect(cluster.nodes.map((node) => node.name)).toEqual(["n1", "n2", "n3"])
      await withConnection(cluster.urls, (connection) => publishThree(connection, "replicated", 3))
      const leader = await cluster.streamLeader("replicated")
      expect(["n1", "n2", "n3"]).toContain(leader)

      const fallen = cluster.node(leader)
      await fallen.kill()
      expect(isAlive(fallen.pid)).toBe(false)
      const successor = await cluster.streamLeader("replicated")
      expect(successor).not.toBe(leader)

      await fallen.restart()
      expect(fallen.running).toBe(true)
      await until(`${leader} to be a current replica again`, () =>
        withConnection(fallen.url, async (connection) => {
          const manager = await jetstreamManager(connection)
          const { cluster: info, state } = await manager.streams.info("replicated")
          const current = info?.leader === leader || (info?.replicas ?? []).some((r) => r.name === leader && r.current)
          return current && state.messages === 3
        })
      )
    } finally {
      await cluster.stop()
    }
    expect(cluster.nodes.some((node) => isAlive(node.pid))).toBe(false)
  })
})
