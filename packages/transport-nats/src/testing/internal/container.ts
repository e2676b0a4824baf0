/**
 * A NATS server in a Docker container, through testcontainers' optional `@testcontainers/nats` module.
 *
 * Invariant: the container runs `nats:2.9-alpine`, the lowest server Sluice supports, and the module is
 * loaded only when this fallback is used.
 *
 * Why: the module is optional, so it is typed here by the little this harness calls.
 */
import { existsSync } from "node:fs"
import { NatsServerError } from "./NatsServerError.ts"

/** The lowest NATS version Sluice supports, as the Debian binary that spawned servers use. */
const IMAGE = "nats:2.9-alpine"
/** The module that provides {@link NatsContainerClass}; a variable so that TypeScript does not resolve it. */
const MODULE = "@testcontainers/nats"

interface NatsContainer {
  withJetStream(): NatsContainer
  start(): Promise<StartedNatsContainer>
}

interface StartedNatsContainer {
  getConnectionOptions(): { readonly servers?: string | Array<string>; readonly user?: string; readonly pass?: string }
  stop(): Promise<unknown>
}

type NatsContainerClass = new (image: string) => NatsContainer

/** A started container: where to connect, with the credentials the module sets, and how to remove it. */
export interface ContainerServer {
  readonly url: string
  readonly port: number
  readonly user?: string
  readonly pass?: string
  readonly stop: () => Promise<void>
}

/** Whether a Docker daemon may be reachable: DOCKER_HOST is set or the default socket exists. */
export const dockerAvailable = (): boolean =>
  (process.env.DOCKER_HOST ?? "") !== "" || existsSync("/var/run/docker.sock")

const loadNatsContainer = async (): Promise<NatsContainerClass> => {
  try {
    const module: { readonly NatsContainer: NatsContainerClass } = await import(MODULE)
    return module.NatsContainer
  } catch (error) {
    throw new NatsServerError({
      reason: `Docker is available but ${MODULE} cannot be loaded (${error instanceof Error ? error.message : String(error)}); install ${MODULE} to run NATS in a container`
    })
  }
}

/** Starts a NATS container (with JetStream when asked) and waits until the server is ready. */
export const startContainer = async (jetstream: boolean): Promise<ContainerServer> => {
  const NatsContainer = await loadNatsContainer()
  let started: StartedNatsContainer
  try {
    const container = new NatsContainer(IMAGE)
    started = await (jetstream ? container.withJetStream() : container).start()
  } catch (error) {
    throw new NatsServerError({
      reason: `the ${IMAGE} container did not start: ${error instanceof Error ? error.message : String(error)}`
    })
  }
  const { servers, user, pass } = started.getConnectionOptions()
  const address = (Array.isArray(servers) ? servers[0] : servers) ?? ""
  const url = `nats://${address}`
  return {
    url,
    port: Number(new URL(url).port),
    ...(user === undefined ? {} : { user }),
    ...(pass === undefined ? {} : { pass }),
    stop: async () => {
      await started.stop()
    }
  }
}
