/**
 * The topics a Bus has ensured on its transport, each once: publishing and consuming ensure a topic (and
 * its dead-letter topic) before they first use it, and a topic is used many times.
 */
import { Effect } from "effect"
import type { InvalidConfig, InvalidName, TransportUnavailable } from "../errors.ts"
import type { Topic } from "../Topic.ts"
import type { TopicConfig, Transport } from "../Transport.ts"

type EnsureError = InvalidName | InvalidConfig | TransportUnavailable

export class EnsuredTopics {
  readonly #transport: Transport
  readonly #ensured = new Set<string>()

  constructor(transport: Transport) {
    this.#transport = transport
  }

  /** Ensures the topic `config` names, unless this Bus did already. */
  ensure(config: TopicConfig): Effect.Effect<void, EnsureError> {
    return this.#ensured.has(config.name)
      ? Effect.void
      : Effect.tap(this.#transport.ensureTopic(config), () => Effect.sync(() => this.#ensured.add(config.name)))
  }

  /** Ensures a topic and its dead-letter topic, which a consumer may need. */
  withDeadLetter<A>(topic: Topic<A>): Effect.Effect<void, EnsureError> {
    return Effect.andThen(
      this.ensure(topic.config),
      this.ensure({ name: topic.deadLetter, replicas: topic.config.replicas ?? 1 })
    )
  }
}
