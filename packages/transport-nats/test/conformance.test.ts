import { transportSuite } from "@sluice/conformance"
import { afterAll } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

// The suite's server: NATS_URL when set, else a nats-server of its own. The broker-restart case kills and
// restarts a server, so it always gets one of its own.
const server = await NatsServer.acquire()
const restartable = await NatsServer.start()
afterAll(() => Promise.all([server.stop(), restartable.stop()]))

transportSuite("NatsTransport", NatsTransport.make(server.connectTarget), NatsTransport.features, {
  make: NatsTransport.make(restartable.connectTarget),
  restart: () => restartable.kill("SIGKILL").then(() => restartable.restart())
})
