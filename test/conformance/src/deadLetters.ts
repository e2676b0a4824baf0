/**
 * Dead letters always land: whatever a failing message's id, key and headers (of every size a transport
 * accepts) and whatever its group's name, it ends in its topic's dead letter, with its original id, and with
 * the headers that fit (the others counted), and its topic is left with nothing unsettled.
 */
import { describe, expect } from "@effect/vitest"
import { Bus, DeadLetter, Topic, type Transport } from "@sluice/core"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { type Harness, uniqueTopic } from "./harness.ts"

const Job = Schema.Struct({ n: Schema.Number })
const encoder = new TextEncoder()

/** A printable character of the Basic Multilingual Plane, no control character: one UTF-16 unit each. */
const printableUnit = fc
  .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xd7ff }))
  .map((code) => String.fromCharCode(code))

/** Printable text of `min` to `max` characters, ASCII and beyond, without whitespace around it (as headers keep it). */
const printable = (min: number, max: number) =>
  fc
    .string({ unit: printableUnit, minLength: min, maxLength: max, size: "max" })
    .map((text) => text.trim())
    .filter((text) => text.length >= min)

const TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
const token = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...TOKEN), minLength: min, maxLength: max, size: "max" })

/** Short and long alike: the longest allowed sizes are where limits bite. */
const shortOrLong = <A>(short: fc.Arbitrary<A>, long: fc.Arbitrary<A>) => fc.oneof(short, long)

/** A header name a publisher may use: a token of `A-Z a-z 0-9 _ . -`, neither Sluice's nor the server's. */
const headerName = fc
  .string({ unit: fc.constantFrom(...`${TOKEN}.`), minLength: 1, maxLength: 40 })
  .filter((name) => !/^(sluice-|nats-)/i.test(name))

const message = fc.record({
  id: shortOrLong(printable(1, 16), printable(200, 256)),
  key: fc.option(shortOrLong(printable(1, 16), printable(200, 256)), { nil: undefined }),
  headers: fc.dictionary(headerName, shortOrLong(printable(0, 20), printable(500, 2000)), { maxKeys: 12 })
})

const scenario = fc.record({
  group: shortOrLong(token(1, 8), token(56, 64)),
  messages: fc.array(message, { minLength: 1, maxLength: 3 })
})

export const deadLetterTests = (h: Harness) => {
  describe("dead letters", () => {
    h.test(
      "a failing message always ends in its dead letter, whatever its id, key, headers and group name (sampled)",
      () =>
        Effect.gen(function* () {
          const transport = yield* h.make
          const bus = Bus.make(transport)
          // A fixed seed: a failure names the case, and the same case comes back on the next run.
          const cases = fc.sample(scenario, { numRuns: h.features.virtualTime ? 60 : 15, seed: 20261206 })
          for (const [index, { group, messages }] of cases.entries()) {
            const topic = Topic.make({ name: uniqueTopic(`dead-letters-${index}`), schema: Job })
            yield* Effect.scoped(
              Effect.gen(function* () {
                yield* bus.consume(topic, { group, maxAttempts: 1 }, () => Effect.fail("it always fails"))
                yield* transport.publish(
                  messages.map(
                    (sent, n): Transport.OutgoingRecord => ({
                      topic: topic.name,
                      id: sent.id,
                      key: sent.key,
                      headers: sent.headers,
                      payload: encoder.encode(JSON.stringify({ n }))
                    })
                  )
                )
                const letters: Array<DeadLetter.DeadLetter | undefined> = []
                yield* bus.consume(DeadLetter.topicOf(topic), { group: "reader" }, (letter) =>
                  Effect.sync(() => letters.push(DeadLetter.read(letter)))
                )
                const expected = new Set(messages.map((sent) => sent.id)).size
                yield* h.eventually(`case ${index}: its ${expected} dead letters`, () => letters.length >= expected)
                const what = `case ${index}: ${JSON.stringify({ group, messages }).slice(0, 300)}`
                for (const letter of letters) {
                  const sent = messages.find((candidate) => candidate.id === letter?.id)
                  expect(sent, what).toBeDefined()
                  expect(letter?.group, what).toBe(group)
                  expect(letter?.key, what).toBe(sent?.key)
                  const kept = Object.keys(letter?.headers ?? {})
                  expect(kept.length + (letter?.droppedHeaders ?? 0), what).toBe(
                    Object.keys(sent?.headers ?? {}).length
                  )
                  for (const name of kept) expect(letter?.headers[name], what).toBe(sent?.headers[name])
                }
                yield* h.eventually(
                  `${what}: the topic left with nothing unsettled`,
                  Effect.map(bus.lag(topic, group), (lag) => lag.pending === 0 && lag.inFlight === 0)
                )
              })
            )
          }
        }),
      120_000
    )
  })
}
