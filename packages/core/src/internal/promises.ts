/** The Promise face's bridge to the engine: running an effect as a Promise, and a message with Promise controls. */
import { Cause, Effect, Exit } from "effect"
import type { Message as EffectMessage } from "../Message.ts"
import type { Message } from "../Sluice.ts"

/** Runs an effect, rejecting with its typed error (not a wrapper). */
export const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) =>
    Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
  )

/** The Promise view of a message. */
export const toPromiseMessage = <A>(message: EffectMessage<A>): Message<A> => ({
  topic: message.topic,
  payload: message.payload,
  id: message.id,
  key: message.key,
  headers: message.headers,
  sequence: message.sequence,
  publishedAt: message.publishedAt,
  attempt: message.attempt,
  deliveryCount: message.deliveryCount,
  ack: () => run(message.ack),
  nak: (delay) => run(message.nak(delay)),
  term: () => run(message.term),
  working: () => run(message.working)
})
