/**
 * The domain of scenario S1: what the payment platform says about a charge,
 * and how an order reacts to it.
 *
 * Nothing here knows about messages. `applyResult` is a pure state machine:
 * it is the whole of the idempotency, so it is written (and tested) without a
 * broker. An order goes `pending → paid | failed` once; a terminal order never
 * changes again, so a result that arrives twice changes nothing the second time.
 */
import { Schema } from "effect"

/** The final answer of the payment platform about one charge. */
export const PaymentStatus = Schema.Literals(["succeeded", "failed"])
export type PaymentStatus = typeof PaymentStatus.Type

/**
 * The message on topic `payments.results`: the settlement of one charge.
 * Validated on publish and on receive; `settledAt` travels as an ISO string.
 */
export const PaymentResult = Schema.Struct({
  orderId: Schema.String.check(Schema.isMinLength(1)),
  paymentId: Schema.String.check(Schema.isMinLength(1)),
  status: PaymentStatus,
  /** In minor units (cents), as the order was charged. */
  amount: Schema.Int.check(Schema.isGreaterThan(0)),
  settledAt: Schema.DateFromString
})
export type PaymentResult = typeof PaymentResult.Type

export type OrderStatus = "pending" | "paid" | "failed"

/** An order as the order service keeps it. */
export interface Order {
  readonly orderId: string
  /** In minor units (cents). */
  readonly amount: number
  readonly status: OrderStatus
  /** The charge the platform accepted for this order. */
  readonly paymentId: string
  /** When the result that made the order terminal was settled. */
  readonly settledAt?: Date
}

/** What a result did to an order. */
export type Outcome =
  /** The order was pending and is now terminal. */
  | "applied"
  /** The order is already terminal through this very payment: a repeated result. */
  | "repeated"
  /** The result does not belong to this order's charge, or does not match it; the order is left alone. */
  | "rejected"

/** The new order (the same object when nothing changed), whether it changed, and why. */
export interface Transition {
  readonly order: Order
  readonly changed: boolean
  readonly outcome: Outcome
  readonly reason?: string
}

const isTerminal = (order: Order): boolean => order.status !== "pending"

/**
 * The order state machine: `pending → paid | failed`, terminal states are final.
 *
 * - a pending order takes the result of its own charge and becomes `paid` or `failed`;
 * - a terminal order settled by the same payment ignores it (a redelivery or a republish);
 * - a result of another payment, or with another amount, is rejected and changes nothing.
 */
export const applyResult = (order: Order, result: PaymentResult): Transition => {
  if (result.orderId !== order.orderId || result.paymentId !== order.paymentId)
    return {
      order,
      changed: false,
      outcome: "rejected",
      reason: `result of payment ${result.paymentId} for order ${result.orderId} does not belong to order ${order.orderId} (payment ${order.paymentId})`
    }
  if (isTerminal(order)) return { order, changed: false, outcome: "repeated" }
  if (result.amount !== order.amount)
    return {
      order,
      changed: false,
      outcome: "rejected",
      reason: `payment ${result.paymentId} settled ${result.amount}, order ${order.orderId} charged ${order.amount}`
    }
  return {
    order: { ...order, status: result.status === "succeeded" ? "paid" : "failed", settledAt: result.settledAt },
    changed: true,
    outcome: "applied"
  }
}
