/**
 * Message ids the Bus gives messages published without one.
 *
 * Invariant: unique across processes (a random prefix per process, a counter after it).
 *
 * Why: far cheaper per message than a UUID, and as unique for the dedup window's purpose.
 */
import { randomBytes } from "node:crypto"

const prefix = randomBytes(8).toString("hex")
let counter = 0

/** A new message id, unique across processes. */
export const nextMessageId = (): string => `${prefix}-${(counter++).toString(36)}`
