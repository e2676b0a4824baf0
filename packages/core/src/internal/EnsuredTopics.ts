/**
 * The topic definitions a Bus has ensured on its transport, each once.
 *
 * Invariant: publishing and consuming ensure a topic (and its dead-letter topic) before they first use it;
 * two definitions of one name with other settings are each checked against the topic, so the second is
 * refused as it would be in another process.
 *
 * Why: a topic is used many times, and asking the broker each time would cost a round trip per publish.
 */
import { Effect } from "effect"
import type { InvalidConfig, InvalidName, TransportUnavailable } from "../errors.ts"
import type { Topic } from "../Topic.ts"
import type { TopicConfig, Transport } from "../Transport.ts"

type EnsureError = InvalidName | InvalidConfig | TransportUnavailable

export class EnsuredTopics {
  readonly #transport: Transport
  /** The configs ensured, as JSON: two definitions with the same settings are one. */
  readonly #ensured = new Set<string>()
  /** The JSON of each config seen, and its dead-letter topic's config: a topic's config is made once, with the topic. */
  readonly #keys = new WeakMap<TopicConfig, string>()
  readonly #deadLetters = new WeakMap<TopicConfig, TopicConfig>()

  constructor(transport: Transport) {
    this.#transport = transport
  }

  /** Ensures the topic `config` names, unless this Bus did already with the same settings. */
  ensure(config: TopicConfig): Effect.Effect<void, EnsureError> {
    let key = this.#keys.get(config)
    if (key === undefined) {
      key = JSON.stringify(config)
      this.#keys.set(config, key)
    }
    const ensured = key
    return this.#ensured.has(ensured)
      ? Effect.void
      : Effect.tap(this.#transport.ensureTopic(config), () => Effect.sync(() => this.#ensured.add(ensured)))
  }

  /** Ensures a topic and its dead-letter topic (with the topic's replicas, where it gives them), which a consumer may need. */
  withDeadLetter<A>(topic: Topic<A>): Effect.Effect<void, EnsureError> {
    let deadLetter = this.#deadLetters.get(topic.config)
    if (deadLetter === undefined) {
      const { replicas } = topic.config
      deadLetter = replicas === undefined ? { name: topic.deadLetter } : { name: topic.deadLetter, replicas }
      this.#deadLetters.set(topic.config, deadLetter)
    }
    return Effect.andThen(this.ensure(topic.config), this.ensure(deadLetter))
  }
}
