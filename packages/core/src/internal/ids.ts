import { randomBytes } from "node:crypto"

// A random prefix per process and a counter: unique across processes, and far
// cheaper per message than a UUID.
const prefix = randomBytes(8).toString("hex")
let counter = 0

/** A new message id, unique across processes. */
export const nextMessageId = (): string => `${prefix}-${(counter++).toString(36)}`
