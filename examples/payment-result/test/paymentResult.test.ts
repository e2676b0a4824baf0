import { describe, expect, it } from "@effect/vitest"
import { MemoryTransport } from "@sluice/core"
import { NatsTransport } from "@sluice/transport-nats"
import { NatsServer } from "@sluice/transport-nats/testing"
import { Effect } from "effect"
import { afterAll } from "vitest"
import { applyResult, type Order, type PaymentResult, type Transition } from "../src/domain.ts"
import { runPaymentResult } from "../src/run.ts"

const pending: Order = { orderId: "order-0001", amount: 1250, status: "pending", paymentId: "pay-0001" }
const result = (overrides: Partial<PaymentResult> = {}): PaymentResult => ({
  orderId: "order-0001",
  paymentId: "pay-0001",
  status: "succeeded",
  amount: 1250,
  settledAt: new Date("2026-11-02T10:00:00Z"),
  ...overrides
})

describe("applyResult", () => {
  it("moves a pending order to paid or failed", () => {
    const paid = applyResult(pending, result())
    expect(paid).toMatchObject({ changed: true, outcome: "applied", order: { status: "paid" } })
    const failed = applyResult(pending, result({ status: "failed" }))
    expect(failed).toMatchObject({ changed: true, outcome: "applied", order: { status: "failed" } })
  })

  it("changes nothing when the result comes again", () => {
    const { order } = applyResult(pending, result())
    const again = applyResult(order, result())
    expect(again).toEqual({ order, changed: false, outcome: "repeated" })
    expect(again.order).toBe(order)
  })

  it("never changes a terminal order, whatever the result says", () => {
    const { order } = applyResult(pending, result({ status: "failed" }))
    expect(applyResult(order, result({ status: "succeeded" }))).toMatchObject({ changed: false, order })
  })

  it("rejects a result of another payment or another amount, and leaves the order alone", () => {
    expect(applyResult(pending, result({ paymentId: "pay-0002" }))).toMatchObject({
      changed: false,
      outcome: "rejected",
      order: pending
    })
    expect(applyResult(pending, result({ amount: 1 }))).toMatchObject({
      changed: false,
      outcome: "rejected",
      order: pending
    })
  })
})

describe("S1 on the memory broker", () => {
  for (const seed of [1, 2, 3]) {
    it.live(`every order ends terminal, each result applied once in effect (seed ${seed})`, () =>
      Effect.gen(function* () {
        const outcome = yield* runPaymentResult(MemoryTransport.layer(), { seed })
        expect(outcome.problems).toEqual([])
        expect(outcome.ok).toBe(true)
        expect(outcome).toMatchObject({
          transport: "memory",
          published: 22,
          duplicatesDropped: 1,
          deliveries: 23,
          redeliveries: 2,
          handlerFailures: 2,
          applied: 20,
          repeated: 2,
          pending: 0
        })
        expect(outcome.paid + outcome.failed).toBe(20)
      })
    )
  }

  it.live("the checks catch a consumer that is not idempotent", () =>
    Effect.gen(function* () {
      // A state machine that applies every result, terminal order or not.
      const overwrite = (order: Order, paymentResult: PaymentResult): Transition => ({
        order: { ...order, status: paymentResult.status === "succeeded" ? "paid" : "failed" },
        changed: true,
        outcome: "applied"
      })
      const outcome = yield* runPaymentResult(MemoryTransport.layer(), { seed: 1, applyResult: overwrite })
      expect(outcome.ok).toBe(false)
      expect(outcome.problems.join("\n")).toMatch(/did not change exactly once/)
      expect(outcome.problems.join("\n")).toMatch(/terminal orders changed/)
    })
  )
})

describe("S1 on NATS JetStream", () => {
  // NATS_URL when set, else a nats-server of this test's own.
  const server = NatsServer.acquire()
  afterAll(async () => (await server).stop())

  for (const seed of [1, 2]) {
    it.live(`every order ends terminal, each result applied once in effect (seed ${seed})`, () =>
      Effect.gen(function* () {
        const { connectTarget } = yield* Effect.promise(() => server)
        const outcome = yield* runPaymentResult(NatsTransport.layer(connectTarget), {
          seed,
          runId: `test-${seed}-${Date.now()}`,
          timeout: "10 seconds"
        })
        expect(outcome.problems).toEqual([])
        expect(outcome).toMatchObject({
          ok: true,
          transport: "nats",
          published: 22,
          duplicatesDropped: 1,
          applied: 20,
          pending: 0
        })
        expect(outcome.paid + outcome.failed).toBe(20)
      })
    )
  }
})
