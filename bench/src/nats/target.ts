/**
 * Where the cases find their servers, and what they name their topics. The
 * parent starts the servers once and hands their addresses to each case's
 * child process in the environment, with the run's id: topics are fresh per
 * run, and a consume case finds the backlog the parent published for it.
 */

/** How to connect: `servers`, with the credentials that NATS_URL carried, if any. */
export interface Target {
  readonly servers: string | ReadonlyArray<string>
  readonly user?: string
  readonly pass?: string
}

/** The environment variables the parent sets for its children. */
export const Env = {
  server: "BENCH_NATS_SERVER",
  cluster: "BENCH_NATS_CLUSTER",
  run: "BENCH_NATS_RUN"
} as const

const fromEnv = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set: run the case through the suite`)
  return value
}

/** The single server, or the cluster, of this run. */
export const targetOf = (cluster: boolean): Target => JSON.parse(fromEnv(cluster ? Env.cluster : Env.server)) as Target

/** A run id: base 36 time and randomness, a valid topic token. */
export const newRunId = (): string =>
  `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0")}`

/** The topics of this run start with this prefix (and their streams with it, dots as `~`). */
export const runPrefix = (run: string): string => `bench.${run}`

/** The run id the parent gave its children. */
export const runOf = (): string => fromEnv(Env.run)

/**
 * The topic of a case. A consume case's backlog is one topic that each implementation reads with its own
 * durable consumer; a publish case gives each implementation a topic of its own.
 */
export const topicOf = (run: string, caseName: string, impl: string | undefined): string => {
  const base = `${runPrefix(run)}.${caseName}`
  return impl === undefined ? base : `${base}.${impl.replaceAll(".", "")}`
}

/** The JetStream stream of a topic, as the Sluice transport names it. */
export const streamOf = (topic: string): string => topic.replaceAll(".", "~")
