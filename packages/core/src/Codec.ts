/**
 * How a topic's values become bytes and back. JSON through an Effect Schema is the default; bytes as they
 * are serve dead letters; any other wire format plugs in by implementing {@link Codec}.
 *
 * Invariant: neither direction throws: a value or a payload that does not fit is a `Result` failure with a
 * reason a person can read.
 *
 * Why: a failure to decode must end in a dead letter with its reason, never crash a consumer.
 */
import { Buffer } from "node:buffer"
import { Result, Schema, SchemaAST, SchemaIssue } from "effect"
import { SchemaJITCompiler } from "effect/schema"

/**
 * Turns values into bytes and bytes into values. Both directions are
 * synchronous and must not throw: a failure is a `Result` failure with a
 * reason a person can read (it ends up in a dead letter's headers).
 */
export interface Codec<A> {
  encode(value: A): Result.Result<Uint8Array, string>
  decode(bytes: Uint8Array): Result.Result<A, string>
}

const formatIssue = SchemaIssue.makeFormatterDefault()
const decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * JSON text validated by `schema` in both directions: the value is encoded with the schema, then stringified.
 * The schema is compiled with Effect's JIT compiler (once per schema, for the whole process), since it runs
 * on every message. Where it cannot compile (a runtime that forbids `new Function`), Effect goes on
 * interpreting it; results and failure messages are the same either way.
 */
export const json = <A, I>(schema: Schema.Codec<A, I>): Codec<A> => {
  SchemaJITCompiler.enable(schema.ast)
  SchemaJITCompiler.enable(SchemaAST.flip(schema.ast))
  const encodeValue = Schema.encodeResult(schema)
  const decodeValue = Schema.decodeUnknownResult(schema)
  return {
    // Both directions run once per message: plain branches, no callbacks to allocate.
    encode: (value) => {
      const encoded = encodeValue(value)
      if (Result.isFailure(encoded)) return Result.fail(formatIssue(encoded.failure.issue))
      let text: string | undefined
      try {
        text = JSON.stringify(encoded.success)
      } catch (error) {
        // A circular value or a BigInt the schema let through: JSON cannot hold it.
        return Result.fail(`not representable as JSON: ${error instanceof Error ? error.message : String(error)}`)
      }
      // JSON.stringify gives undefined for a lone function, symbol or undefined.
      if (text === undefined) return Result.fail("not representable as JSON: the value has no JSON form")
      // Buffer (a Uint8Array) allocates small payloads from a shared pool: far cheaper than TextEncoder.
      return Result.succeed(Buffer.from(text, "utf8"))
    },
    decode: (bytes) => {
      let parsed: unknown
      try {
        parsed = JSON.parse(decoder.decode(bytes))
      } catch (error) {
        return Result.fail(`not valid JSON: ${error instanceof Error ? error.message : String(error)}`)
      }
      const decoded = decodeValue(parsed)
      // A success is returned as it is, not wrapped again (one allocation fewer per message); it carries no failure.
      return Result.isSuccess(decoded)
        ? (decoded as Result.Result<A, never>)
        : Result.fail(formatIssue(decoded.failure.issue))
    }
  }
}

/** Bytes as they are, in both directions: for payloads a consumer reads without a schema (dead letters). */
export const bytes: Codec<Uint8Array> = {
  encode: (value) => Result.succeed(value),
  decode: (value) => Result.succeed(value)
}
