import { type ConnectionOptions, connect } from "@nats-io/transport-node"
import { Effect } from "effect"

/** A plain client's connection to a test's server (its `connectTarget`, say), closed with the scope (unless the test closed it). */
export const connection = (target: ConnectionOptions) =>
  Effect.acquireRelease(
    Effect.promise(() => connect(target)),
    (nc) => Effect.promise(() => nc.close().catch(() => undefined))
  )
