import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import type { NatsServer } from "../src/testing/index.ts"

/** A plain client's connection to a test's server, closed with the scope (unless the test closed it). */
export const connection = (target: NatsServer.ConnectTarget) =>
  Effect.acquireRelease(
    Effect.promise(() => connect(target)),
    (nc) => Effect.promise(() => nc.close().catch(() => undefined))
  )
