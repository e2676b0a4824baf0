/**
 * Sluice's log lines, and where they go. Sluice logs through Effect's logger (`Effect.logWarning`, ...), each
 * line about a message annotated with its `topic`, `group` and `messageId` as fields (`Effect.annotateLogs`).
 * The Promise face takes {@link Options} (`Sluice.connect({ logLevel: "warning" })`, or a `logger` of your
 * own); an Effect program provides {@link layer} with the same options, or any Effect logger.
 *
 * Invariant: an {@link Entry} is one line: its message holds no line break, and a cause attached to it is
 * reduced to one line (`error`: the error's name and message), never a stack, unless a logger of your own
 * prints `cause`.
 *
 * Why: a log collector reads a line as an entry, and finds the entries of a topic, a group or a message by
 * their fields.
 */
import { Cause, Effect, type LogLevel as EffectLogLevel, Layer, Logger, References } from "effect"
import type { InvalidConfig } from "./errors.ts"
import { firstProblem, func, object, oneOf, type Problem } from "./internal/options.ts"

/** How severe an entry is. */
export type Level = "debug" | "info" | "warning" | "error"

/** The least severe level written; `"none"` writes nothing. */
export type LogLevel = Level | "none"

/** One log line. */
export interface Entry {
  readonly level: Level
  /** What happened, on one line. */
  readonly message: string
  /** What it is about: `topic`, `group` and `messageId` where it is about a message, and the annotations of the program. */
  readonly fields: Readonly<Record<string, unknown>>
  /** The error that caused it, on one line (`TransportUnavailable: ...`), where there is one. */
  readonly error?: string
  /** That error itself, with its stack, for a logger that wants more than `error`. */
  readonly cause?: unknown
  readonly date: Date
}

/** Where Sluice's log lines go: `logLevel` and `logger` of `Sluice.connect`, or of {@link layer}. */
export interface Options {
  /** The least severe level written: `"debug"`, `"info"`, `"warning"`, `"error"` or `"none"`. Default `"info"`. */
  readonly logLevel?: LogLevel
  /** Receives each entry; by default {@link toConsole} writes it to the console, one line each. */
  readonly logger?: (entry: Entry) => void
}

export const defaultLogLevel: LogLevel = "info"

const levels: ReadonlyArray<LogLevel> = ["debug", "info", "warning", "error", "none"]

const effectLevels: Readonly<Record<LogLevel, EffectLogLevel.LogLevel>> = {
  debug: "Debug",
  info: "Info",
  warning: "Warn",
  error: "Error",
  none: "None"
}

const levelOf = (level: EffectLogLevel.LogLevel): Level => {
  switch (level) {
    case "All":
    case "Trace":
    case "Debug":
      return "debug"
    case "Info":
      return "info"
    case "Warn":
      return "warning"
    default:
      return "error"
  }
}

/** The fields of an entry about a message: its topic, its group (none for a broadcast subscription) and its id. */
export const messageFields = (
  topic: string,
  group: string | undefined,
  messageId: string
): Readonly<Record<string, string>> => (group === undefined ? { topic, messageId } : { topic, group, messageId })

/** Text on one line: every line break, with the spaces around it, becomes one space. */
export const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, " ").trim()

const textOf = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** The one-line description of a cause: its error's name and message, or "interrupted". */
const describe = (cause: Cause.Cause<unknown>): string => {
  if (Cause.hasInterruptsOnly(cause)) return "interrupted"
  const error = Cause.squash(cause)
  return oneLine(error instanceof Error ? `${error.name}: ${error.message}` : textOf(error))
}

/** An entry as one line of logfmt: `time=... level=warning message="..." topic=... error="..."`. */
export const format = (entry: Entry): string => {
  const pairs: Array<[string, unknown]> = [
    ["time", entry.date.toISOString()],
    ["level", entry.level],
    ["message", entry.message],
    ...Object.entries(entry.fields)
  ]
  if (entry.error !== undefined) pairs.push(["error", entry.error])
  return pairs.map(([key, value]) => `${key}=${quoted(oneLine(textOf(value)))}`).join(" ")
}

const quoted = (text: string): string => (/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text))

/** The default logger: each entry on one line of the console (`console.warn` for warnings, `console.error` for errors). */
export const toConsole = (entry: Entry): void => {
  const line = format(entry)
  if (entry.level === "error") console.error(line)
  else if (entry.level === "warning") console.warn(line)
  else console.log(line)
}

/** The problem with logging options, if any. */
export const validate = (options: Options): Problem =>
  firstProblem(object("options", options), oneOf("logLevel", options.logLevel, levels), func("logger", options.logger))

/**
 * An Effect logger that turns each log call into an {@link Entry} for `logger`. An entry the logger throws on
 * goes to the console instead: a log line is never lost to its logger, nor fails what logged it.
 */
export const effectLogger = (logger: (entry: Entry) => void = toConsole): Logger.Logger<unknown, void> =>
  Logger.make(({ message, logLevel, cause, fiber, date }) => {
    const parts = Array.isArray(message) ? message : [message]
    const entry: Entry = {
      level: levelOf(logLevel),
      message: oneLine(parts.map(textOf).join(" ")),
      fields: fiber.getRef(References.CurrentLogAnnotations),
      ...(cause.reasons.length > 0 ? { error: describe(cause), cause: Cause.squash(cause) } : {}),
      date
    }
    try {
      logger(entry)
    } catch {
      toConsole(entry)
    }
  })

/**
 * Sluice's logging as a layer: the entries at `logLevel` or above go to `logger` (to the console by default),
 * one line each, and no other logger. Fails with `InvalidConfig` for a bad option.
 */
export const layer = (options: Options = {}): Layer.Layer<never, InvalidConfig> => {
  const problem = validate(options)
  if (problem !== undefined) return Layer.effectDiscard(Effect.fail(problem))
  return Layer.mergeAll(
    Logger.layer([effectLogger(options.logger)]),
    Layer.succeed(References.MinimumLogLevel, effectLevels[options.logLevel ?? defaultLogLevel])
  )
}
