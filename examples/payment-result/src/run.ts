/**
 * Scenario S1 as a function: runs the whole story on the transport it is
 * given and returns what happened, with the list of every broken promise.
 * `main.ts` prints it; the test asserts on it.
 *
 * The story: orders are placed and charged; the platform settles the charges
 * in random order and publishes each result; one result is republished with
 * the same id (the broker drops it), one is re-sent under a new id (the
 * consumer sees it and must ignore it); the order store fails once for one
 * order (the result is redelivered and applied) and the handler fails once
 * after saving another order (the redelivery must change nothing).
 */
import { Bus, type Errors, type Transport } from "@sluice/core"
import { Clock, Duration, Effect, Layer, Random } from "effect"
import type { Order, PaymentResult, Transition } from "./domain.ts"
import { type Change, type Handled, OrderService, type OrderServiceOptions } from "./orderService.ts"
import { PaymentPlatform, results, type UnknownPayment } from "./paymentPlatform.ts"

export interface ScenarioOptions {
  /** Orders placed, at least 4. Default 20. */
  readonly orders?: number
  /** Seed of every random choice (amounts, answers, settlement order, which orders meet a fault). Default: random. */
  readonly seed?: number
  /** How long to wait for every order to be terminal and every message settled. Default 3 seconds. */
  readonly timeout?: Duration.Input
  /** Delay before a failed result is delivered again. Default 50 ms, to keep the demo quick. */
  readonly redeliveryDelay?: Duration.Input
  /**
   * Makes this run's payment ids (the message ids) unique: a durable broker (NATS) remembers ids of earlier
   * runs within its dedup window and would drop their repeats. Default: none (ids `pay-0001`, ...).
   */
  readonly runId?: string
  /** The order state machine; only replaced to show that the checks catch a broken one. */
  readonly applyResult?: (order: Order, result: PaymentResult) => Transition
}

export interface ScenarioOutcome {
  /** True when every promise of S1 held: `problems` is empty. */
  readonly ok: boolean
  /** What went wrong, one sentence each. */
  readonly problems: ReadonlyArray<string>
  readonly seed: number
  /** The transport's name (`memory`, `nats`). */
  readonly transport: string
  /** Notable events, in order, one sentence each. */
  readonly story: ReadonlyArray<string>
  /** Publish calls the platform made. */
  readonly published: number
  /** Of those, the ones the broker confirmed as duplicates and did not store. */
  readonly duplicatesDropped: number
  /** Runs of the order service's handler (deliveries it received). */
  readonly deliveries: number
  /** Of those, redeliveries (attempt 2 or later). */
  readonly redeliveries: number
  /** Handler runs that failed (each is redelivered). */
  readonly handlerFailures: number
  /** Results that changed their order. */
  readonly applied: number
  /** Results that found their order already terminal and changed nothing. */
  readonly repeated: number
  readonly paid: number
  readonly failed: number
  readonly pending: number
  readonly elapsedMillis: number
}

const group = "orders"

/** Runs scenario S1 on `transport`, which is built for this run and released after it. */
export const runPaymentResult = <E>(
  transport: Layer.Layer<Transport.TransportService, E>,
  options: ScenarioOptions = {}
): Effect.Effect<ScenarioOutcome, E | Errors.TransportError | Errors.BusPublishError | UnknownPayment> =>
  Effect.flatMap(
    options.seed === undefined ? Random.nextIntBetween(1, 1_000_000) : Effect.succeed(options.seed),
    // Every random choice below follows the seed, so a run can be replayed.
    (seed) => Random.withSeed(seed)(seeded(transport, options, seed))
  )

const seeded = <E>(transport: Layer.Layer<Transport.TransportService, E>, options: ScenarioOptions, seed: number) =>
  Effect.gen(function* () {
    const count = options.orders ?? 20
    if (!Number.isInteger(count) || count < 4) return yield* Effect.die(new RangeError("S1 needs at least 4 orders"))
    const timeout = options.timeout ?? "3 seconds"
    const redeliveryDelay = options.redeliveryDelay ?? "50 millis"

    // Orders are numbered order-0001, order-0002, ...: the orders that meet a fault or a duplicate are picked now.
    const orderIds = Array.from({ length: count }, (_, i) => `order-${String(i + 1).padStart(4, "0")}`)
    const [storeDown, crashAfterSave, republished, resent] = (yield* Random.shuffle(orderIds)) as [
      string,
      string,
      string,
      string
    ]

    const services = OrderService.layer({
      concurrency: 4,
      redeliveryDelay: () => redeliveryDelay,
      faults: { storeDownOnceFor: storeDown, crashAfterSaveOnceFor: crashAfterSave },
      ...(options.applyResult === undefined ? {} : { applyResult: options.applyResult })
    } satisfies OrderServiceOptions).pipe(
      Layer.provideMerge(
        PaymentPlatform.layer(options.runId === undefined ? {} : { paymentIdPrefix: `pay-${options.runId}` })
      ),
      Layer.provideMerge(Bus.layer()),
      Layer.provide(transport)
    )

    return yield* scenario({ seed, count, timeout, storeDown, crashAfterSave, republished, resent }).pipe(
      Effect.provide(services)
    )
  })

interface Plan {
  readonly seed: number
  readonly count: number
  readonly timeout: Duration.Input
  readonly storeDown: string
  readonly crashAfterSave: string
  readonly republished: string
  readonly resent: string
}

const scenario = (plan: Plan) =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    const bus = yield* Bus.Bus
    const platform = yield* PaymentPlatform
    const orders = yield* OrderService
    const story: Array<string> = []
    const problems: Array<string> = []
    const receipts: Array<Transport.PublishReceipt> = []

    // Everything settled: every order terminal, nothing waiting in the broker or in a handler.
    const settledDown = Effect.gen(function* () {
      for (;;) {
        const lag = yield* bus.lag(results, group)
        const open = (yield* orders.orders).some((order) => order.status === "pending")
        if (!open && lag.pending === 0 && lag.inFlight === 0) return
        yield* Effect.sleep("5 millis")
      }
    })
    const waitUntilSettled = (moment: string) =>
      Effect.gen(function* () {
        const done = yield* Effect.timeoutOption(settledDown, plan.timeout)
        if (done._tag === "Some") return
        const lag = yield* bus.lag(results, group)
        const open = (yield* orders.orders).filter((order) => order.status === "pending").length
        problems.push(
          `${moment}, still not settled after ${Duration.format(Duration.fromInputUnsafe(plan.timeout))}: ${open} orders pending, ${lag.pending} messages waiting, ${lag.inFlight} in flight`
        )
      })

    // 1. The order service places orders; the platform accepts each charge at once.
    for (let i = 0; i < plan.count; i++) yield* orders.place(yield* Random.nextIntBetween(500, 50_000))
    const placed = yield* orders.orders
    const paymentOf = new Map(placed.map((order) => [order.orderId, order.paymentId]))
    story.push(`placed ${placed.length} orders; the platform accepted ${placed.length} charges at once, all pending`)

    // 2. Later, the platform settles the charges in random order and publishes every result.
    const settlement = yield* platform.settleAll
    receipts.push(...settlement)
    const truth = yield* platform.settled
    const failedCount = [...truth.values()].filter((result) => result.status === "failed").length
    story.push(
      `the platform settled ${settlement.length} charges in random order (${failedCount} declined) and published each result, id = payment id`
    )

    // 3. It publishes one result again with the same id: the broker recognises the id and drops it.
    const republishedPayment = paymentOf.get(plan.republished) ?? ""
    const again = yield* platform.republish(republishedPayment)
    receipts.push(again)
    story.push(
      `the platform republished ${republishedPayment} (${plan.republished}) with the same id: ${again.duplicate ? `the broker dropped it (duplicate: true, sequence ${again.sequence} is the original)` : `the broker stored it again as sequence ${again.sequence}`}`
    )
    if (!again.duplicate)
      problems.push(`the republished result ${republishedPayment} was not recognised as a duplicate by the broker`)

    yield* waitUntilSettled("after the settlement")

    // 4. Support re-sends a result under a new id, after its order is terminal: the consumer must ignore it.
    const resentPayment = paymentOf.get(plan.resent) ?? ""
    const resend = yield* platform.resend(resentPayment)
    receipts.push(resend)
    yield* waitUntilSettled("after the re-sent result")

    // 5. What the order service saw and did.
    const journal = yield* orders.journal
    const changes = yield* orders.changes
    const final = yield* orders.orders
    story.push(...faultStory(journal, plan, resentPayment, resend))

    problems.push(...check({ final, truth, changes, journal, plan, resentPayment }))
    const lag = yield* bus.lag(results, group)
    if (lag.pending > 0 || lag.inFlight > 0)
      problems.push(`group ${group} still has ${lag.pending} messages waiting and ${lag.inFlight} in flight`)

    const count = (status: Order["status"]) => final.filter((order) => order.status === status).length
    return {
      ok: problems.length === 0,
      problems,
      seed: plan.seed,
      transport: bus.transport.features.name,
      story,
      published: receipts.length,
      duplicatesDropped: receipts.filter((receipt) => receipt.duplicate).length,
      deliveries: journal.length,
      redeliveries: journal.filter((run) => run.attempt > 1).length,
      handlerFailures: journal.filter((run) => run.failure !== undefined).length,
      applied: journal.filter((run) => run.outcome === "applied").length,
      repeated: journal.filter((run) => run.outcome === "repeated").length,
      paid: count("paid"),
      failed: count("failed"),
      pending: count("pending"),
      elapsedMillis: (yield* Clock.currentTimeMillis) - started
    } satisfies ScenarioOutcome
  })

const runsOf = (journal: ReadonlyArray<Handled>, orderId: string) => journal.filter((run) => run.orderId === orderId)

const describeRun = (run: Handled): string => {
  const outcome = run.outcome === "repeated" ? "repeated, changed nothing" : run.outcome
  if (run.failure === undefined) return `attempt ${run.attempt} ${outcome ?? "did nothing"}`
  return `attempt ${run.attempt} ${outcome === undefined ? "" : `${outcome}, then `}failed → nak, redelivered`
}

/** One sentence per injected fault and per duplicate the consumer saw. */
const faultStory = (
  journal: ReadonlyArray<Handled>,
  plan: Plan,
  resentPayment: string,
  resend: Transport.PublishReceipt
): ReadonlyArray<string> => [
  `${plan.storeDown} (order store down once): ${runsOf(journal, plan.storeDown).map(describeRun).join("; ")}`,
  `${plan.crashAfterSave} (handler fails once after saving, before the ack): ${runsOf(journal, plan.crashAfterSave).map(describeRun).join("; ")}`,
  `support re-sent ${resentPayment} (${plan.resent}) under a new id, stored as sequence ${resend.sequence}: ${
    journal
      .filter((run) => run.paymentId === resentPayment && run.messageId !== resentPayment)
      .map(describeRun)
      .join("; ") || "never delivered"
  }`
]

interface Evidence {
  readonly final: ReadonlyArray<Order>
  readonly truth: ReadonlyMap<string, PaymentResult>
  readonly changes: ReadonlyArray<Change>
  readonly journal: ReadonlyArray<Handled>
  readonly plan: Plan
  readonly resentPayment: string
}

/** The promises of S1, each checked against what the platform decided and what the order service did. */
const check = ({ final, truth, changes, journal, plan, resentPayment }: Evidence): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const few = (ids: ReadonlyArray<string>) => `${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", ..." : ""}`

  // Every result reached the order service: every order is terminal, with the platform's answer.
  const pending = final.filter((order) => order.status === "pending").map((order) => order.orderId)
  if (pending.length > 0) problems.push(`${pending.length} orders are still pending: ${few(pending)}`)
  const wrong = final
    .filter((order) => order.status !== "pending")
    .filter((order) => {
      const result = truth.get(order.paymentId)
      return result === undefined || order.status !== (result.status === "succeeded" ? "paid" : "failed")
    })
    .map((order) => `${order.orderId} is ${order.status}, payment ${truth.get(order.paymentId)?.status ?? "unknown"}`)
  if (wrong.length > 0) problems.push(`${wrong.length} orders disagree with the platform: ${few(wrong)}`)

  // Applied exactly once in effect: one change per order, always out of pending.
  const changesOf = new Map<string, number>()
  for (const change of changes) changesOf.set(change.orderId, (changesOf.get(change.orderId) ?? 0) + 1)
  const notOnce = final
    .filter((order) => (changesOf.get(order.orderId) ?? 0) !== 1)
    .map((order) => `${order.orderId} changed ${changesOf.get(order.orderId) ?? 0} times`)
  if (notOnce.length > 0) problems.push(`${notOnce.length} orders did not change exactly once: ${few(notOnce)}`)
  const afterTerminal = changes
    .filter((change) => change.from !== "pending")
    .map((change) => `${change.orderId} ${change.from} → ${change.to}`)
  if (afterTerminal.length > 0) problems.push(`${afterTerminal.length} terminal orders changed: ${few(afterTerminal)}`)

  // The duplicates and faults really happened, and did what they should.
  const rejected = journal.filter((run) => run.outcome === "rejected").map((run) => run.messageId)
  if (rejected.length > 0) problems.push(`${rejected.length} results were rejected: ${few(rejected)}`)
  const expect = (orderId: string, what: string, shape: ReadonlyArray<string>) => {
    const seen = runsOf(journal, orderId)
      .filter((run) => run.messageId === run.paymentId)
      .map((run) => `${run.attempt}:${run.outcome ?? "-"}:${run.failure === undefined ? "ok" : "failed"}`)
    if (seen.join(" ") !== shape.join(" "))
      problems.push(`${orderId} (${what}): expected runs ${shape.join(" ")}, saw ${seen.join(" ") || "none"}`)
  }
  expect(plan.storeDown, "order store down once", ["1:-:failed", "2:applied:ok"])
  expect(plan.crashAfterSave, "handler fails once after saving", ["1:applied:failed", "2:repeated:ok"])
  const resentRuns = journal.filter((run) => run.paymentId === resentPayment && run.messageId !== resentPayment)
  if (resentRuns.length !== 1 || resentRuns[0]?.outcome !== "repeated" || resentRuns[0]?.failure !== undefined)
    problems.push(
      `the re-sent result ${resentPayment} should be delivered once and change nothing; saw ${resentRuns.map(describeRun).join("; ") || "nothing"}`
    )
  return problems
}
