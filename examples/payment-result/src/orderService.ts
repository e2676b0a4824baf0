/**
 * The order service: it places orders, asks the payment platform to charge
 * them (a call that answers at once), and learns the final result later from
 * `payments.results` (a message). It depends on the platform; the platform
 * does not depend on it.
 *
 * The consumer is idempotent by construction: a result goes through the pure
 * state machine `applyResult`, and the read-modify-write of an order is atomic
 * (synchronous here; a conditional `UPDATE ... WHERE status = 'pending'` in a
 * database). A message is acknowledged only after its handler succeeded, so
 * any failure means a redelivery, and a redelivery of an applied result finds
 * the order terminal and changes nothing.
 */
import { Bus, type Consumer, type Errors, type Message } from "@sluice/core"
import { Cause, Context, Data, type Duration, Effect, Exit, Layer } from "effect"
import {
  applyResult,
  type Order,
  type OrderStatus,
  type Outcome,
  type PaymentResult,
  type Transition
} from "./domain.ts"
import { PaymentPlatform, results } from "./paymentPlatform.ts"

/** The order store could not be written; the result will be redelivered. */
class OrderStoreUnavailable extends Data.TaggedError("OrderStoreUnavailable")<{ readonly orderId: string }> {
  override get message() {
    return `the order store is unavailable; order ${this.orderId} was not saved`
  }
}

/** The handler stopped after saving the order and before the acknowledgement, as a crash there would. */
class CrashedBeforeAck extends Data.TaggedError("CrashedBeforeAck")<{ readonly orderId: string }> {
  override get message() {
    return `the handler stopped after saving ${this.orderId}, before the ack`
  }
}

/** A result for an order this service never placed. */
class UnknownOrder extends Data.TaggedError("UnknownOrder")<{ readonly orderId: string }> {
  override get message() {
    return `no order ${this.orderId}`
  }
}

/** A result that does not match its order; after the last redelivery it goes to the dead letter, for a person to look at. */
class ResultRejected extends Data.TaggedError("ResultRejected")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

type HandlerError = OrderStoreUnavailable | CrashedBeforeAck | UnknownOrder | ResultRejected

/** Failures to inject, each once, to show what a redelivery does. */
interface InjectedFaults {
  /** The first write of this order fails: the result is redelivered, then applied. */
  readonly storeDownOnceFor?: string
  /** The first handling of this order's result fails after the order was saved: the redelivery changes nothing. */
  readonly crashAfterSaveOnceFor?: string
}

export interface OrderServiceOptions {
  /** Handlers running at once. Default 4. */
  readonly concurrency?: number
  /** Delay before a failed result is delivered again, by attempt. Default: the Bus default (1 s, doubling). */
  readonly redeliveryDelay?: (attempt: number) => Duration.Input
  readonly faults?: InjectedFaults
  /** The state machine. Default {@link applyResult}; replaced only to show that the checks catch a broken one. */
  readonly applyResult?: (order: Order, result: PaymentResult) => Transition
}

/** One change of one order. */
export interface Change {
  readonly orderId: string
  readonly from: OrderStatus
  readonly to: OrderStatus
  /** The message that caused it. */
  readonly messageId: string
}

/** One run of the handler. */
export interface Handled {
  readonly messageId: string
  readonly orderId: string
  readonly paymentId: string
  readonly attempt: number
  /** What the result did to the order; absent when the handler failed before reaching the order. */
  readonly outcome?: Outcome
  /** Why the handler failed, when it did (the message is then redelivered). */
  readonly failure?: string
}

export interface OrderServiceShape {
  /** Places an order and has the platform charge it: the order is pending until the result arrives. */
  place(amount: number): Effect.Effect<Order>
  readonly orders: Effect.Effect<ReadonlyArray<Order>>
  /** Every change of every order, in the order they happened. */
  readonly changes: Effect.Effect<ReadonlyArray<Change>>
  /** Every run of the result handler, in the order they ended. */
  readonly journal: Effect.Effect<ReadonlyArray<Handled>>
  /** The consumer of `payments.results` in group `orders`. It stops, gracefully, when the layer is released. */
  readonly consumer: Consumer.Consumer
}

export class OrderService extends Context.Service<OrderService, OrderServiceShape>()(
  "@sluice/example-payment-result/OrderService"
) {
  /** The order service, consuming results from the moment it is built until its layer is released. */
  static readonly layer = (
    options: OrderServiceOptions = {}
  ): Layer.Layer<OrderService, Errors.TransportError, Bus.Bus | PaymentPlatform> =>
    Layer.effect(
      OrderService,
      Effect.gen(function* () {
        const bus = yield* Bus.Bus
        const platform = yield* PaymentPlatform
        const transition = options.applyResult ?? applyResult
        const orders = new Map<string, Order>()
        let placed = 0
        const changes: Array<Change> = []
        const journal: Array<Handled> = []
        const faultsLeft = new Set<string>()
        if (options.faults?.storeDownOnceFor !== undefined) faultsLeft.add(`store:${options.faults.storeDownOnceFor}`)
        if (options.faults?.crashAfterSaveOnceFor !== undefined)
          faultsLeft.add(`crash:${options.faults.crashAfterSaveOnceFor}`)
        const faultOnce = (fault: string) => faultsLeft.delete(fault)

        /** Orders are numbered order-0001, order-0002, ... */
        const place = (amount: number) =>
          Effect.gen(function* () {
            const orderId = `order-${String(++placed).padStart(4, "0")}`
            const charge = yield* platform.charge({ orderId, amount })
            const order: Order = { orderId, amount, status: "pending", paymentId: charge.paymentId }
            orders.set(orderId, order)
            return order
          })

        /** Applies a result to its order and saves the order, in one synchronous (so atomic) step. */
        const save = (messageId: string, result: PaymentResult) =>
          Effect.suspend((): Effect.Effect<Transition, OrderStoreUnavailable | UnknownOrder> => {
            if (faultOnce(`store:${result.orderId}`))
              return Effect.fail(new OrderStoreUnavailable({ orderId: result.orderId }))
            const order = orders.get(result.orderId)
            if (order === undefined) return Effect.fail(new UnknownOrder({ orderId: result.orderId }))
            const next = transition(order, result)
            if (next.changed) {
              orders.set(order.orderId, next.order)
              changes.push({ orderId: order.orderId, from: order.status, to: next.order.status, messageId })
            }
            return Effect.succeed(next)
          })

        const handle = (message: Message.Message<PaymentResult>) => {
          const result = message.payload
          let outcome: Outcome | undefined
          return Effect.gen(function* () {
            const next = yield* save(message.id, result)
            outcome = next.outcome
            if (faultOnce(`crash:${result.orderId}`)) return yield* new CrashedBeforeAck({ orderId: result.orderId })
            if (next.outcome === "rejected") return yield* new ResultRejected({ reason: next.reason ?? "rejected" })
          }).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                journal.push({
                  messageId: message.id,
                  orderId: result.orderId,
                  paymentId: result.paymentId,
                  attempt: message.attempt,
                  ...(outcome === undefined ? {} : { outcome }),
                  ...(Exit.isFailure(exit) ? { failure: describe(exit.cause) } : {})
                })
              })
            )
          )
        }

        const consumer = yield* bus.consume(
          results,
          {
            group: "orders",
            concurrency: options.concurrency ?? 4,
            ...(options.redeliveryDelay === undefined ? {} : { redeliveryDelay: options.redeliveryDelay })
          },
          handle
        )

        return OrderService.of({
          place,
          orders: Effect.sync(() => [...orders.values()]),
          changes: Effect.sync(() => [...changes]),
          journal: Effect.sync(() => [...journal]),
          consumer
        })
      })
    )
}

const describe = (cause: Cause.Cause<HandlerError>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}
