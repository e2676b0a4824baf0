/**
 * Checks of the options users give, each naming the option and the value in an `InvalidConfig`.
 *
 * Invariant: absent options (`undefined`) always pass, their defaults apply; a given one passes only when
 * it is of the kind, range and unit documented for it.
 *
 * Why: each check returns the problem or `undefined`, so that a list of them reads as the rules, and
 * {@link firstProblem} finds the first.
 */
import { Duration, Option } from "effect"
import { InvalidConfig } from "../errors.ts"

export type Problem = InvalidConfig | undefined

/** A value as a message shows it: text quoted, numbers as they are, the rest by kind. */
const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value)
  return kindOf(value)
}

/** The kind of a value, which a message may show where the value is a secret. */
const kindOf = (value: unknown): string => {
  if (typeof value === "string") return value === "" ? "an empty text" : "a text"
  if (typeof value === "number" || typeof value === "bigint") return "a number"
  if (typeof value === "boolean") return "true or false"
  if (value === null) return "null"
  if (typeof value === "function") return "a function"
  if (Array.isArray(value)) return "an array"
  return typeof value === "object" ? "an object" : typeof value
}

/** The problem of `option` given `value` where `expected` was wanted. */
export const invalid = (option: string, value: unknown, expected: string): InvalidConfig =>
  new InvalidConfig({ option, reason: `${option} must be ${expected}, not ${show(value)}` })

/** A whole number of at least `min` (and at most `max`, when given). */
export const count = (option: string, value: unknown, min = 1, max?: number): Problem =>
  value === undefined ||
  (typeof value === "number" && Number.isSafeInteger(value) && value >= min && (max === undefined || value <= max))
    ? undefined
    : invalid(
        option,
        value,
        max === undefined ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`
      )

/** What a duration may be: above zero (or zero too), and finite (or `"Infinity"` too). */
export interface DurationRule {
  readonly zero?: boolean
  readonly infinite?: boolean
}

/** A duration (`"30 seconds"`, milliseconds, a `Duration`) within `rule`; by default above zero and finite. */
export const duration = (option: string, value: unknown, rule: DurationRule = {}): Problem => {
  if (value === undefined) return undefined
  const expected = `a duration ${rule.zero ? "of zero or more" : "above zero"}${rule.infinite ? ' (or "Infinity")' : ", finite"}, such as "30 seconds" or a number of milliseconds`
  if (typeof value === "number" && Number.isNaN(value)) return invalid(option, value, expected)
  const parsed = Duration.fromInput(value as Duration.Input)
  if (Option.isNone(parsed)) return invalid(option, value, expected)
  const millis = Duration.toMillis(parsed.value)
  if (millis < 0 || (millis === 0 && !rule.zero) || (!Number.isFinite(millis) && !rule.infinite))
    return invalid(option, value, expected)
  return undefined
}

/** A non-empty list of durations, each within `rule`. */
export const durations = (option: string, value: unknown, rule: DurationRule = {}): Problem => {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length === 0) return invalid(option, value, "a non-empty list of durations")
  for (let i = 0; i < value.length; i++) {
    const problem = duration(`${option}[${i}]`, value[i], rule)
    if (problem !== undefined) return problem
  }
  return undefined
}

/** One of `choices`. */
export const oneOf = (option: string, value: unknown, choices: ReadonlyArray<string>): Problem =>
  value === undefined || choices.includes(value as string)
    ? undefined
    : invalid(option, value, `one of ${choices.map((choice) => JSON.stringify(choice)).join(", ")}`)

/** A text, not empty; matching `pattern` where given, which `expected` then describes. */
export const text = (
  option: string,
  value: unknown,
  pattern?: RegExp,
  expected = "a text that is not empty"
): Problem =>
  value === undefined || (typeof value === "string" && value !== "" && (pattern === undefined || pattern.test(value)))
    ? undefined
    : invalid(option, value, expected)

/** A secret: a text that is not empty. Its problem names the kind of value given, never the value. */
export const secret = (option: string, value: unknown): Problem =>
  value === undefined || (typeof value === "string" && value !== "")
    ? undefined
    : new InvalidConfig({ option, reason: `${option} must be a text that is not empty, not ${kindOf(value)}` })

/** A function. */
export const func = (option: string, value: unknown): Problem =>
  value === undefined || typeof value === "function" ? undefined : invalid(option, value, "a function")

/** True or false. */
export const flag = (option: string, value: unknown): Problem =>
  value === undefined || typeof value === "boolean" ? undefined : invalid(option, value, "true or false")

/** The options object itself: an object, or absent. */
export const object = (option: string, value: unknown): Problem =>
  value === undefined || (typeof value === "object" && value !== null && !Array.isArray(value))
    ? undefined
    : invalid(option, value, "an object")

/** The first problem of a list of checks, or `undefined`. */
export const firstProblem = (...problems: ReadonlyArray<Problem>): Problem =>
  problems.find((problem) => problem !== undefined)
