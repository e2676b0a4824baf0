/**
 * What every area of the conformance suite shares: the way a test is
 * registered and moves time (virtual or real, decided once from the
 * transport's features), unique names, records, and subscribers that record
 * what they receive.
 */
import { expect, it } from "@effect/vitest"
import type { Errors, Transport } from "@sluice/core"
import { Cause, Duration, Effect, Fiber, type Scope, Stream } from "effect"
import { TestClock } from "effect/testing"

/** How long a test waits for something that must happen, in (virtual or real) time. */
const DEFAULT_WITHIN: Duration.Input = "10 seconds"

/** The transport under test, and the time helpers that suit it. */
export interface Harness {
  readonly make: Effect.Effect<Transport.Transport, unknown, Scope.Scope>
  readonly features: Transport.TransportFeatures
  /** Registers one test: `it.effect` (TestClock) when the transport follows the Effect clock, `it.live` otherwise. */
  readonly test: (name: string, body: () => Effect.Effect<void, unknown, Scope.Scope>, timeout?: number) => void
  /** Lets `duration` pass: moves the TestClock, or sleeps for real. */
  readonly advance: (duration: Duration.Input) => Effect.Effect<void>
  /** Lets the work already under way finish without moving virtual time (a short real pause on a real transport). */
  readonly settle: Effect.Effect<void>
  /**
   * The lag of a group, as the suite compares it: a transport that does not count what retention removes
   * (`features.countsRemovals` false) must report `missed` as `undefined`, which is then compared as 0.
   */
  readonly lag: (
    transport: Transport.Transport,
    topic: string,
    group: string
  ) => Effect.Effect<Transport.GroupLag, Errors.TransportError>
  /**
   * What a topic holds, as the suite compares it: a transport that does not count what retention removes
   * must report `expired` and `discarded` as `undefined`, which are then compared as 0.
   */
  readonly topicInfo: (
    transport: Transport.Transport,
    topic: string
  ) => Effect.Effect<Transport.TopicInfo, Errors.TransportError>
  /** What a count of removed messages is compared as: `count` itself, or 0 where the transport does not count. */
  readonly removed: (count: number) => number
  /**
   * Waits until `check` holds, letting time pass (virtual or real) in small steps, at most `within`.
   * Fails the test, naming `what`, when it never holds.
   */
  readonly eventually: <E = never, R = never>(
    what: string,
    check: Effect.Effect<boolean, E, R> | (() => boolean),
    within?: Duration.Input
  ) => Effect.Effect<void, E, R>
}

export const makeHarness = (
  make: Effect.Effect<Transport.Transport, unknown, Scope.Scope>,
  features: Transport.TransportFeatures
): Harness => {
  const virtual = features.virtualTime
  const tester = virtual ? it.effect : it.live

  const yieldMany = (times: number) =>
    Effect.gen(function* () {
      for (let i = 0; i < times; i++) yield* Effect.yieldNow
    })

  const settle: Effect.Effect<void> = virtual ? yieldMany(200) : Effect.sleep("200 millis")

  const advance = (duration: Duration.Input): Effect.Effect<void> =>
    virtual ? Effect.andThen(TestClock.adjust(duration), yieldMany(50)) : Effect.sleep(duration)

  const eventually = <E = never, R = never>(
    what: string,
    check: Effect.Effect<boolean, E, R> | (() => boolean),
    within: Duration.Input = DEFAULT_WITHIN
  ): Effect.Effect<void, E, R> => {
    const holds: Effect.Effect<boolean, E, R> = typeof check === "function" ? Effect.sync(check) : check
    const limit = Duration.toMillis(Duration.fromInputUnsafe(within))
    const fail = Effect.sync(() => expect.fail(`expected ${what} within ${Duration.format(Duration.millis(limit))}`))
    if (virtual) {
      // Poll without moving the clock first, then move it in small steps up to `within`.
      const step = 20
      return Effect.gen(function* () {
        let waited = 0
        for (;;) {
          for (let i = 0; i < 20; i++) {
            if (yield* holds) return
            yield* yieldMany(5)
          }
          if (waited >= limit) return yield* fail
          yield* TestClock.adjust(step)
          waited += step
        }
      })
    }
    return Effect.gen(function* () {
      const deadline = Date.now() + limit
      for (;;) {
        if (yield* holds) return
        if (Date.now() > deadline) return yield* fail
        yield* Effect.sleep("10 millis")
      }
    })
  }

  const test = (name: string, body: () => Effect.Effect<void, unknown, Scope.Scope>, timeout?: number) =>
    tester(name, body, timeout ?? (virtual ? 30_000 : 40_000))

  const lag = (transport: Transport.Transport, topic: string, group: string) =>
    Effect.map(transport.lag(topic, group), (found): Transport.GroupLag => {
      if (features.countsRemovals) return found
      expect(found.missed, "missed, which this transport does not count").toBeUndefined()
      return { ...found, missed: 0 }
    })

  const topicInfo = (transport: Transport.Transport, topic: string) =>
    Effect.map(transport.topicInfo(topic), (found): Transport.TopicInfo => {
      if (features.countsRemovals) return found
      expect(found.expired, "expired, which this transport does not count").toBeUndefined()
      expect(found.discarded, "discarded, which this transport does not count").toBeUndefined()
      return { ...found, expired: 0, discarded: 0 }
    })

  const removed = (count: number): number => (features.countsRemovals ? count : 0)

  return { make, features, test, advance, settle, lag, topicInfo, removed, eventually }
}

// ---------------------------------------------------------------------------
// Names

const RUN_TOKEN = Math.random().toString(36).slice(2, 8)
let counter = 0

/** A topic name no other test (of this run or an earlier one on a shared server) uses. */
export const uniqueTopic = (label: string): string => `conformance.${RUN_TOKEN}.${label}-${++counter}`

/** A group name unique in this run. */
export const uniqueGroup = (label = "g"): string => `${label}-${RUN_TOKEN}-${++counter}`

// ---------------------------------------------------------------------------
// Records

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The text of a payload. */
export const text = (payload: Uint8Array): string => decoder.decode(payload)

/** A record whose payload is `body` as UTF-8 and whose id is unique. */
export const record = (
  topic: string,
  body: string,
  extra: { readonly id?: string; readonly key?: string; readonly headers?: Record<string, string> } = {}
): Transport.OutgoingRecord => ({
  topic,
  id: extra.id ?? `${body}-${RUN_TOKEN}-${++counter}`,
  key: extra.key,
  headers: extra.headers ?? {},
  payload: encoder.encode(body)
})

/** Records `prefix-0` … `prefix-(count-1)`. */
export const records = (topic: string, count: number, prefix = "m"): Array<Transport.OutgoingRecord> =>
  Array.from({ length: count }, (_, i) => record(topic, `${prefix}-${i}`))

/** The header that marks the probe messages used to see that a broadcast subscription is live. */
const PROBE_HEADER = "conformance-probe"

/** Deliveries without the probes. */
const withoutProbes = (deliveries: ReadonlyArray<Transport.Delivery>): Array<Transport.Delivery> =>
  deliveries.filter((d) => d.headers[PROBE_HEADER] === undefined)

/** The payload texts of deliveries (probes left out). */
export const bodies = (deliveries: ReadonlyArray<Transport.Delivery>): Array<string> =>
  withoutProbes(deliveries).map((d) => text(d.payload))

/** The sequences of deliveries (probes left out). */
export const sequences = (deliveries: ReadonlyArray<Transport.Delivery>): Array<number> =>
  withoutProbes(deliveries).map((d) => d.sequence)

// ---------------------------------------------------------------------------
// Subscribers

/** A running subscription that records every delivery, in arrival order. */
export interface Subscriber {
  readonly options: Transport.SubscriptionOptions
  /** Every delivery, redeliveries included, in arrival order. */
  readonly received: Array<Transport.Delivery>
  /** The subscription's failure, when its stream failed. */
  readonly failure: () => Cause.Cause<Errors.TransportError> | undefined
  /** Ends the subscription (closes its stream's scope); settles nothing. */
  readonly close: Effect.Effect<void>
}

/**
 * Starts a subscription in the test's scope. `onDelivery` runs for each delivery, one at a time, after it
 * is recorded (default: settle nothing). It runs uninterruptibly, so closing the subscription never cuts
 * a settlement in half.
 */
export const subscribe = (
  transport: Transport.Transport,
  options: Transport.SubscriptionOptions,
  onDelivery: (delivery: Transport.Delivery) => Effect.Effect<void, Errors.TransportError> = () => Effect.void
): Effect.Effect<Subscriber, never, Scope.Scope> =>
  Effect.gen(function* () {
    const received: Array<Transport.Delivery> = []
    let failure: Cause.Cause<Errors.TransportError> | undefined
    const fiber = yield* transport.subscribe(options).pipe(
      Effect.flatMap(
        Stream.runForEach((delivery) =>
          Effect.uninterruptible(
            Effect.suspend(() => {
              received.push(delivery)
              return onDelivery(delivery)
            })
          )
        )
      ),
      Effect.scoped,
      Effect.onError((cause) =>
        Effect.sync(() => {
          // Closing interrupts the stream: that is not a failure.
          if (!Cause.hasInterruptsOnly(cause)) failure = cause
        })
      ),
      Effect.forkScoped
    )
    return {
      options,
      received,
      failure: () => failure,
      close: Fiber.interrupt(fiber)
    }
  })

/** Settles as a careful consumer does: ack each delivery as it arrives. */
export const ackEach = (delivery: Transport.Delivery): Effect.Effect<void, Errors.TransportError> => delivery.ack

/** Fails the test at once when the subscription failed; otherwise whether `predicate` holds. */
const alive = (subscriber: Subscriber, predicate: () => boolean): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const failure = subscriber.failure()
    if (failure !== undefined) {
      return Effect.sync(() =>
        expect.fail(`the subscription to ${subscriber.options.topic} failed: ${String(failure)}`)
      )
    }
    return Effect.succeed(predicate())
  })

/** Helpers bound to a harness, for the waits every area needs. */
export const waits = (h: Harness) => {
  /** Waits until `subscriber` has received at least `count` deliveries (probes left out). */
  const receivedAtLeast = (subscriber: Subscriber, count: number, within?: Duration.Input) =>
    h.eventually(
      `${count} deliveries on ${subscriber.options.topic} (${subscriber.options.group ?? "broadcast"})`,
      alive(subscriber, () => withoutProbes(subscriber.received).length >= count),
      within
    )

  /** Waits until `predicate` holds for what `subscriber` received. */
  const receivedSuch = (
    subscriber: Subscriber,
    what: string,
    predicate: (received: ReadonlyArray<Transport.Delivery>) => boolean,
    within?: Duration.Input
  ) =>
    h.eventually(
      `${what} on ${subscriber.options.topic}`,
      alive(subscriber, () => predicate(withoutProbes(subscriber.received))),
      within
    )

  /** Waits until the group exists on the broker (its lag can be read). */
  const groupExists = (transport: Transport.Transport, topic: string, group: string) =>
    h.eventually(
      `group ${group} to exist on ${topic}`,
      transport.lag(topic, group).pipe(
        Effect.as(true),
        Effect.catch(() => Effect.succeed(false))
      )
    )

  /**
   * Waits until a broadcast subscription is live: publishes probe messages until one arrives. Everything
   * published after this returns reaches the subscriber.
   */
  const broadcastLive = (transport: Transport.Transport, subscriber: Subscriber) =>
    Effect.gen(function* () {
      const topic = subscriber.options.topic
      const probes = () => subscriber.received.filter((d) => d.headers[PROBE_HEADER] !== undefined).length
      for (let attempt = 0; attempt < 50; attempt++) {
        yield* transport.publish([record(topic, `probe-${attempt}`, { headers: { [PROBE_HEADER]: "1" } })])
        const arrived = yield* h
          .eventually(
            `a probe on ${topic}`,
            alive(subscriber, () => probes() > 0),
            "200 millis"
          )
          .pipe(
            Effect.as(true),
            Effect.catchDefect(() => Effect.succeed(false))
          )
        if (arrived) return
      }
      return yield* Effect.sync(() => expect.fail(`the broadcast subscription to ${topic} never went live`))
    })

  return { receivedAtLeast, receivedSuch, groupExists, broadcastLive }
}
