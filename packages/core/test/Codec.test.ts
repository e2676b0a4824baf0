import { execFileSync } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Result, Schema, SchemaIssue } from "effect"
import fc from "fast-check"
import { Codec } from "../src/index.ts"

const Order = Schema.Struct({ id: Schema.String, total: Schema.Number, note: Schema.optionalKey(Schema.String) })
type Order = typeof Order.Type

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (text: string): Uint8Array => encoder.encode(text)

/** The failure reason of a result, or fails the test when it succeeded. */
const reasonOf = <A>(result: Result.Result<A, string>): string => {
  if (Result.isSuccess(result)) return expect.fail(`expected a failure, got ${JSON.stringify(result.success)}`)
  return result.failure
}

describe("Codec.json", () => {
  const codec = Codec.json(Order)

  it("round-trips a value through JSON bytes", () => {
    const order: Order = { id: "o-1", total: 12.5, note: "gift — ünïcødé ✓" }
    const encoded = Result.getOrThrow(codec.encode(order))
    expect(JSON.parse(decoder.decode(encoded))).toEqual(order)
    expect(Result.getOrThrow(codec.decode(encoded))).toEqual(order)
  })

  it("encodes with the schema, so transformations apply in both directions", () => {
    const Event = Schema.Struct({ at: Schema.DateFromString, count: Schema.NumberFromString })
    const events = Codec.json(Event)
    const value = { at: new Date("2026-01-02T03:04:05.000Z"), count: 42 }
    const encoded = Result.getOrThrow(events.encode(value))
    expect(JSON.parse(decoder.decode(encoded))).toEqual({ at: "2026-01-02T03:04:05.000Z", count: "42" })
    expect(Result.getOrThrow(events.decode(encoded))).toEqual(value)
  })

  it("fails to encode a value that does not match the schema, saying why", () => {
    const reason = reasonOf(codec.encode({ id: "o-1", total: "twelve" } as unknown as Order))
    expect(reason).toMatch(/number/i)
    expect(reason).toContain("total")
  })

  it("fails to decode bytes that are not JSON, saying so", () => {
    const reason = reasonOf(codec.decode(bytes('{"id": "o-1", "total": ')))
    expect(reason).toMatch(/^not valid JSON: /)
  })

  it("fails to decode JSON of the wrong shape, naming the field", () => {
    const wrongType = reasonOf(codec.decode(bytes('{"id": "o-1", "total": "twelve"}')))
    expect(wrongType).toContain("total")
    expect(wrongType).toMatch(/number/i)

    const missing = reasonOf(codec.decode(bytes('{"id": "o-1"}')))
    expect(missing).toContain("total")
    expect(missing).toMatch(/missing/i)

    expect(reasonOf(codec.decode(bytes("[1, 2, 3]")))).not.toBe("")
    expect(reasonOf(codec.decode(bytes("null")))).not.toBe("")
  })

  it("fails to decode bytes that are not UTF-8, saying so", () => {
    // 0xC3 starts a two-byte sequence that 0x28 does not continue; 0xFF never occurs in UTF-8.
    const invalid = new Uint8Array([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d])
    const reason = reasonOf(codec.decode(invalid))
    expect(reason).toMatch(/utf-8/i)
  })

  it("fails to decode an empty payload", () => {
    expect(reasonOf(codec.decode(new Uint8Array()))).toMatch(/^not valid JSON/)
  })

  it("never throws, whatever the bytes", () => {
    const samples = [new Uint8Array([0]), bytes("{}"), bytes('"text"'), bytes("1e999"), new Uint8Array(1000).fill(0xff)]
    for (const sample of samples) expect(() => codec.decode(sample)).not.toThrow()
  })

  it("decodes and encodes as the schema's interpreter does, though it compiles the schema", () => {
    // Two instances of one shape: Codec.json compiles the first, the second stays interpreted by Effect.
    const shape = () =>
      Schema.Struct({
        id: Schema.String,
        total: Schema.Number,
        count: Schema.Int,
        at: Schema.DateFromString,
        amount: Schema.NumberFromString,
        status: Schema.Literals(["open", "paid"]),
        note: Schema.optionalKey(Schema.String),
        lines: Schema.Array(Schema.Struct({ sku: Schema.String, quantity: Schema.Number }))
      })
    const compiled = Codec.json(shape())
    const interpreted = shape()
    const decode = Schema.decodeUnknownResult(interpreted)
    const encode = Schema.encodeResult(interpreted)
    const format = SchemaIssue.makeFormatterDefault()
    const reason = <A>(result: Result.Result<A, Schema.SchemaError>) =>
      Result.mapError(result, (error) => format(error.issue))

    // Mostly valid fields, so that many inputs decode; the others go wrong in one field or more.
    const maybe = <A>(valid: fc.Arbitrary<A>) =>
      fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: fc.jsonValue(), weight: 1 })
    const line = fc.record({ sku: maybe(fc.string()), quantity: maybe(fc.double({ noNaN: true })) })
    const wire = fc.record(
      {
        id: maybe(fc.string()),
        total: maybe(fc.double({ noNaN: true, noDefaultInfinity: true })),
        count: maybe(fc.integer()),
        at: maybe(fc.date({ noInvalidDate: true }).map((date) => date.toISOString())),
        amount: maybe(fc.integer().map(String)),
        status: maybe(fc.constantFrom("open", "paid", "lost")),
        note: maybe(fc.string()),
        lines: maybe(fc.array(line, { maxLength: 3 })),
        extra: fc.jsonValue()
      },
      { requiredKeys: ["id", "total", "count", "at", "amount", "status", "lines"] }
    )
    fc.assert(
      fc.property(fc.oneof(wire, fc.jsonValue()), (input) => {
        const text = JSON.stringify(input)
        // What the JSON text holds, which is not always the input (-0 is written as 0).
        const expected = reason(decode(JSON.parse(text)))
        const actual = compiled.decode(bytes(text))
        expect(actual).toEqual(expected)
        if (Result.isSuccess(expected)) {
          const encoded = Result.map(compiled.encode(expected.success), (payload) => decoder.decode(payload))
          expect(encoded).toEqual(Result.map(reason(encode(expected.success)), (value) => JSON.stringify(value)))
        }
      }),
      { numRuns: 2000 }
    )
  })

  it("works where the runtime forbids generating code, by interpreting the schema", () => {
    const core = new URL("../src/index.ts", import.meta.url).href
    const script = `
      import { Schema } from "effect"
      import { Codec } from ${JSON.stringify(core)}
      const codec = Codec.json(Schema.Struct({ id: Schema.String, total: Schema.Number }))
      const decoded = codec.decode(Buffer.from('{"id":"o-1","total":2}'))
      const refused = codec.decode(Buffer.from('{"id":1,"total":2}'))
      const encoded = codec.encode({ id: "o-2", total: 3 })
      console.log(JSON.stringify([decoded.success, refused.failure, Buffer.from(encoded.success).toString()]))`
    const output = execFileSync(
      process.execPath,
      ["--disallow-code-generation-from-strings", "--input-type=module", "--eval", script],
      { encoding: "utf8", cwd: new URL(".", import.meta.url) }
    )
    expect(JSON.parse(output)).toEqual([
      { id: "o-1", total: 2 },
      'Expected string\n  at ["id"]',
      '{"id":"o-2","total":3}'
    ])
  })
})
