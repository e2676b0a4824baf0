/**
 * What a consumer runs for each message, and middleware: a function from one handler to another (retry,
 * dedup, ...), composed with `pipe`.
 *
 * Invariant: a handler succeeds once the message's effect happened; only then is the message acknowledged.
 *
 * Why: a middleware then decides what counts as done by what it lets succeed, and nothing else.
 */
import type { Effect } from "effect"
import type { Message } from "./Message.ts"

/** Handles one message: succeeds once its effect happened, fails (or dies) when it did not. */
export type Handler<A, E = never, R = never> = (message: Message<A>) => Effect.Effect<void, E, R>

/** Wraps a handler into another, with the error and requirement types it may change. */
export type Middleware<A, E1 = never, R1 = never, E2 = E1, R2 = R1> = (
  handler: Handler<A, E1, R1>
) => Handler<A, E2, R2>
