/**
 * The payment platform: it accepts a charge at once and settles it later. When
 * the final result is known it publishes it on `payments.results` instead of
 * calling the order service back, so the platform never depends on its callers.
 *
 * Every result is published with a stable message id, the payment id (the
 * topic's `id` function), and keyed by its order. Publishing is at least once:
 * a result may be published again (an outbox relay that lost a confirmation,
 * a support tool that re-sends it), and the consumer must not care.
 */
import { Bus, type Errors, Topic, type Transport } from "@sluice/core"
import { Context, Data, Effect, Layer, Random } from "effect"
import { PaymentResult, type PaymentStatus } from "./domain.ts"

/** Where settlement results go: keyed by order, identified by payment. */
export const results = Topic.make({
  name: "payments.results",
  schema: PaymentResult,
  key: (result) => result.orderId,
  id: (result) => result.paymentId
})

/** What the order service asks for. */
interface ChargeRequest {
  readonly orderId: string
  /** In minor units (cents). */
  readonly amount: number
}

/** A charge the platform accepted; its result comes later, as a message. */
interface Charge extends ChargeRequest {
  readonly paymentId: string
}

export class UnknownPayment extends Data.TaggedError("UnknownPayment")<{ readonly paymentId: string }> {}

export interface PaymentPlatformOptions {
  /** The bank's answer for a charge. Default: about one charge in five is declined, at random. */
  readonly decide?: (charge: Charge) => Effect.Effect<PaymentStatus>
  /** Pause before each settlement of `settleAll`, to spread results over time. Default: 0 to 5 ms at random. */
  readonly pause?: Effect.Effect<void>
  /**
   * Prefix of payment ids (`<prefix>-0001`, ...). A durable broker remembers message ids across runs of
   * the demo (within its dedup window), so each run there needs ids of its own. Default `pay`.
   */
  readonly paymentIdPrefix?: string
}

export interface PaymentPlatformShape {
  /** Accepts a charge at once. The result is published later on {@link results}. */
  charge(request: ChargeRequest): Effect.Effect<Charge>
  /** Charges accepted and not settled yet. */
  readonly unsettled: Effect.Effect<ReadonlyArray<Charge>>
  /** Settles one charge (the bank answers once) and publishes its result; settling it again publishes the same result again. */
  settle(paymentId: string): Effect.Effect<Transport.PublishReceipt, Errors.BusPublishError | UnknownPayment>
  /** Settles every unsettled charge, in random order, and returns the receipts in that order. */
  readonly settleAll: Effect.Effect<ReadonlyArray<Transport.PublishReceipt>, Errors.BusPublishError | UnknownPayment>
  /**
   * Publishes the result of a settled charge again with the same message id, as an outbox relay does
   * after a lost confirmation: the broker recognises the id and drops it (`duplicate: true`).
   */
  republish(paymentId: string): Effect.Effect<Transport.PublishReceipt, Errors.BusPublishError | UnknownPayment>
  /**
   * Publishes the result of a settled charge again under a new message id, as a support tool that re-sends
   * results does: the broker cannot recognise it, so the consumer receives it and must ignore it.
   */
  resend(paymentId: string): Effect.Effect<Transport.PublishReceipt, Errors.BusPublishError | UnknownPayment>
  /** Every result the platform decided, by payment id: the truth the order service must end up agreeing with. */
  readonly settled: Effect.Effect<ReadonlyMap<string, PaymentResult>>
}

const declineOneInFive = (): Effect.Effect<PaymentStatus> =>
  Effect.map(Random.next, (x): PaymentStatus => (x < 0.2 ? "failed" : "succeeded"))

export class PaymentPlatform extends Context.Service<PaymentPlatform, PaymentPlatformShape>()(
  "@sluice/example-payment-result/PaymentPlatform"
) {
  /** The platform, publishing through the {@link Bus} of the context. */
  static readonly layer = (options: PaymentPlatformOptions = {}): Layer.Layer<PaymentPlatform, never, Bus.Bus> =>
    Layer.effect(
      PaymentPlatform,
      Effect.gen(function* () {
        const bus = yield* Bus.Bus
        const decide = options.decide ?? declineOneInFive
        const pause =
          options.pause ?? Effect.flatMap(Random.nextIntBetween(0, 5), (millis) => Effect.sleep(`${millis} millis`))
        // The platform's own state; plain maps are safe here because every update is synchronous.
        const charges = new Map<string, Charge>()
        const settled = new Map<string, PaymentResult>()
        let nextPayment = 1
        let resends = 0

        const charge = (request: ChargeRequest) =>
          Effect.sync((): Charge => {
            const paymentId = `${options.paymentIdPrefix ?? "pay"}-${String(nextPayment++).padStart(4, "0")}`
            const accepted = { ...request, paymentId }
            charges.set(paymentId, accepted)
            return accepted
          })

        /** The recorded result, decided on first use: the bank answers once per charge. */
        const resultOf = (paymentId: string) =>
          Effect.gen(function* () {
            const known = settled.get(paymentId)
            if (known !== undefined) return known
            const accepted = charges.get(paymentId)
            if (accepted === undefined) return yield* new UnknownPayment({ paymentId })
            const status = yield* decide(accepted)
            const result: PaymentResult = {
              orderId: accepted.orderId,
              paymentId,
              status,
              amount: accepted.amount,
              settledAt: new Date()
            }
            settled.set(paymentId, result)
            return result
          })

        const settle = (paymentId: string) =>
          Effect.flatMap(resultOf(paymentId), (result) => bus.publish(results, result))

        const settledResult = (paymentId: string) =>
          Effect.suspend(() => {
            const result = settled.get(paymentId)
            return result === undefined ? Effect.fail(new UnknownPayment({ paymentId })) : Effect.succeed(result)
          })

        const unsettled = Effect.sync(() => [...charges.values()].filter((c) => !settled.has(c.paymentId)))

        return PaymentPlatform.of({
          charge,
          unsettled,
          settle,
          settleAll: Effect.gen(function* () {
            const order = yield* Random.shuffle(yield* unsettled)
            return yield* Effect.forEach(order, (c) => Effect.andThen(pause, settle(c.paymentId)))
          }),
          republish: (paymentId) => Effect.flatMap(settledResult(paymentId), (result) => bus.publish(results, result)),
          resend: (paymentId) =>
            Effect.flatMap(settledResult(paymentId), (result) =>
              bus.publish(results, result, { id: `${paymentId}.resent-${++resends}` })
            ),
          settled: Effect.sync(() => new Map(settled))
        })
      })
    )
}
