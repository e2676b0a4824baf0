import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
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
})
