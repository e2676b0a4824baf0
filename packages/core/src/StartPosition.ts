/**
 * Where a new consumer group (or a broadcast subscription) starts reading its topic: from the first message
 * the topic holds, from the next one published, from a sequence, or from a time.
 *
 * Invariant: a start counts only when the group is created; an existing group keeps its cursor.
 *
 * Why: a module of its own, so that `StartPosition.all` reads as what it is at every call site.
 */

/** Where a new group starts reading. */
export type StartPosition =
  /** Only messages published after the group was created. */
  | { readonly _tag: "New" }
  /** Every message the topic still holds. */
  | { readonly _tag: "All" }
  /** From this sequence on (inclusive). */
  | { readonly _tag: "Sequence"; readonly sequence: number }
  /** From the first message published at or after this time, in milliseconds since the epoch. */
  | { readonly _tag: "Time"; readonly epochMillis: number }

/** Only messages published after the group was created. */
const fromNow: StartPosition = { _tag: "New" }

// `new` is a reserved word: a name a module may export, though not declare.
export { fromNow as new }

/** Every message the topic still holds. */
export const all: StartPosition = { _tag: "All" }

/** From `sequence` on (inclusive). */
export const sequence = (sequence: number): StartPosition => ({ _tag: "Sequence", sequence })

/** From the first message published at or after `at` (a Date, or milliseconds since the epoch). */
export const time = (at: Date | number): StartPosition => ({
  _tag: "Time",
  epochMillis: typeof at === "number" ? at : at.getTime()
})
