/**
 * The Promise face's bridge to the engine: running an effect as a Promise in a client's context (where its
 * log lines go), and a message with Promise controls.
 *
 * Invariant: a Promise rejects with the typed error itself, never a wrapper.
 *
 * Why: users of this face match `error._tag` as users of the Effect face do.
 */
import { Cause, type Context, Effect, Exit } from "effect"
import type { Message as EffectMessage } from "../Message.ts"
import type { Message } from "../Sluice.ts"

/** Runs effects in a client's context. */
export interface Runner {
  /** The client's context: its logger and log level. */
  readonly context: Context.Context<never>
  /** Runs an effect, rejecting with its typed error (not a wrapper). */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>
}

export const runnerOf = (context: Context.Context<never>): Runner => {
  const runExit = Effect.runPromiseExitWith(context)
  return {
    context,
    run: (effect) =>
      runExit(effect).then((exit) => (Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))))
  }
}

/** The Promise view of a message, whose controls run with `runner`. */
export const toPromiseMessage = <A>(message: EffectMessage<A>, { run }: Runner): Message<A> => ({
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
