/**
 * What names, keys, ids and headers may be, and why a refused one was refused.
 *
 * Invariant: nothing that could widen a subscription (a wildcard, an empty token) or break a header or a
 * log line (a control character, whitespace a header would lose) gets past these checks.
 *
 * Why: names end up in broker subjects and headers, so they are checked before any transport sees them.
 */
import { Result } from "effect"
import { InvalidName } from "../errors.ts"

/** Longest topic name, in characters. Subjects must stay far below NATS's 4,096-byte control line. */
export const MAX_TOPIC_NAME_LENGTH = 200
/** Longest group name, in characters. */
const MAX_GROUP_NAME_LENGTH = 64
/** Longest key or message id, in characters. */
const MAX_KEY_LENGTH = 256

const TOKEN = /^[A-Za-z0-9_-]+$/
// Control characters (C0, DEL, C1) would break a header line or a log line.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** A character as `U+000D`. */
const codePoint = (character: string): string =>
  `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`

const describeToken = (token: string): string => {
  if (token === "") return "it has an empty token (two dots in a row, or a dot at either end)"
  if (token === "*" || token === ">" || token.includes("*") || token.includes(">"))
    return `token ${JSON.stringify(token)} contains a wildcard (* or >)`
  // Before whitespace: a CR, LF or tab is named as the control character it is.
  const control = CONTROL.exec(token)?.[0]
  if (control !== undefined)
    return `token ${JSON.stringify(token)} contains the control character ${codePoint(control)}`
  if (/\s/.test(token)) return `token ${JSON.stringify(token)} contains whitespace`
  return `token ${JSON.stringify(token)} has a character outside A-Z a-z 0-9 _ -`
}

/** A topic name: dot-separated tokens of `[A-Za-z0-9_-]`, at most {@link MAX_TOPIC_NAME_LENGTH} characters. */
export const validateTopicName = (name: string): Result.Result<string, InvalidName> => {
  const fail = (reason: string) => Result.fail(new InvalidName({ kind: "topic", value: name, reason }))
  if (name.length === 0) return fail("it is empty")
  if (name.length > MAX_TOPIC_NAME_LENGTH)
    return fail(`it has ${name.length} characters, more than ${MAX_TOPIC_NAME_LENGTH}`)
  for (const token of name.split(".")) {
    if (!TOKEN.test(token)) return fail(describeToken(token))
  }
  return Result.succeed(name)
}

/** A group name: a single token of `[A-Za-z0-9_-]`, at most {@link MAX_GROUP_NAME_LENGTH} characters. */
export const validateGroupName = (name: string): Result.Result<string, InvalidName> => {
  const fail = (reason: string) => Result.fail(new InvalidName({ kind: "group", value: name, reason }))
  if (name.length === 0) return fail("it is empty")
  if (name.length > MAX_GROUP_NAME_LENGTH)
    return fail(`it has ${name.length} characters, more than ${MAX_GROUP_NAME_LENGTH}`)
  if (!TOKEN.test(name))
    return fail(name.includes(".") ? "a group name is a single token, without dots" : describeToken(name))
  return Result.succeed(name)
}

/**
 * A key or message id: any printable text of 1 to {@link MAX_KEY_LENGTH} characters, not starting or ending
 * with whitespace. Keys travel in headers, never in subjects, so dots and wildcards are harmless; control
 * characters are not, and NATS trims the whitespace around a header's value.
 */
export const validateText = (kind: "key" | "message id", value: string): Result.Result<string, InvalidName> => {
  const fail = (reason: string) => Result.fail(new InvalidName({ kind, value, reason }))
  if (value.length === 0) return fail("it is empty")
  if (value.length > MAX_KEY_LENGTH) return fail(`it has ${value.length} characters, more than ${MAX_KEY_LENGTH}`)
  if (CONTROL.test(value)) return fail("it contains a control character (such as CR or LF)")
  if (value.trim() !== value) return fail(`it ${SURROUNDING_WHITESPACE}`)
  return Result.succeed(value)
}

/** Why text that travels in a header may not start or end with whitespace. */
const SURROUNDING_WHITESPACE =
  "starts or ends with whitespace, which a NATS header (where ids and keys travel) does not keep"

/**
 * Header names the NATS server reads as directives (`Nats-Rollup` purges a stream that allows it,
 * `Nats-Expected-Stream` refuses a publish to any other): reserved on every transport, so that a record
 * means the same on each. The server's own headers on a delivery are not copied onto its dead letter.
 */
export const isServerDirective = (name: string): boolean => /^nats-/i.test(name)

/** Header names Sluice writes itself: the key on the wire, a dead letter's details. */
const SLUICE_HEADER = /^sluice-/i

const refusedHeader = (name: string, reason: string): Result.Result<never, InvalidName> =>
  Result.fail(new InvalidName({ kind: "header", value: name, reason }))

/**
 * Header names are tokens, none of them a server directive; header values are printable text without CR or
 * LF, not starting or ending with whitespace (NATS would trim it: the transports would disagree).
 */
export const validateHeaders = (headers: Readonly<Record<string, string>>): Result.Result<void, InvalidName> => {
  for (const name in headers) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) return refusedHeader(name, "a header name uses only A-Z a-z 0-9 _ . -")
    if (isServerDirective(name))
      return refusedHeader(
        name,
        "names starting with Nats- are directives to the NATS server, reserved on every transport"
      )
    const value = headers[name]
    if (typeof value !== "string") return refusedHeader(name, "its value is not text")
    if (CONTROL.test(value)) return refusedHeader(name, "its value contains a control character (such as CR or LF)")
    if (value.trim() !== value) return refusedHeader(name, `its value ${SURROUNDING_WHITESPACE}`)
  }
  return Result.succeed(undefined)
}

/** The headers of a message published through the Bus: none of them may be one that Sluice writes itself. */
export const validatePublishedHeaders = (
  headers: Readonly<Record<string, string>>
): Result.Result<void, InvalidName> => {
  for (const name in headers)
    if (SLUICE_HEADER.test(name))
      return refusedHeader(
        name,
        "names starting with sluice- are Sluice's own (the key on the wire, a dead letter's details)"
      )
  return Result.succeed(undefined)
}
