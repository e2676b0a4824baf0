/**
 * The Promise face, for people who know neither Effect nor RxJS:
 *
 * ```ts
 * const sluice = await Sluice.connect()                 // the embedded memory broker
 * sluice.closeOnSignals()                               // at SIGTERM or SIGINT: close gracefully, then end
 * await sluice.publish(orders, { id: "o-1", total: 5 })
 * const consumer = await sluice.consume(orders, { group: "billing" }, async (message) => { ... })
 * for await (const message of await sluice.subscribe(orders, { group: "audit" })) { ...; await message.ack() }
 * await consumer.stop()
 * await sluice.close()
 * ```
 *
 * Invariant: it runs the same engine as the Effect face, and every rejection is one of the typed errors of
 * `errors.ts`, never a wrapper.
 *
 * Why: people who know neither Effect nor RxJS get the same guarantees with Promises and `for await`.
 *
 */
import { Cause, Context, type Duration, Effect, Exit, Fiber, Layer, ManagedRuntime, Scope, Stream } from "effect"
import * as Bus from "./Bus.ts"
import type { ConsumeOptions } from "./Consumer.ts"
import { TransportUnavailable } from "./errors.ts"
import { firstProblem, invalid, object } from "./internal/options.ts"
import { PromiseSubscription } from "./internal/PromiseSubscription.ts"
import { type Runner, runnerOf, toPromiseMessage } from "./internal/promises.ts"
import { defaultSignals, signalsProblem, type Trap, trapSignals } from "./internal/signals.ts"
import * as Logging from "./Logging.ts"
import * as MemoryTransport from "./MemoryTransport.ts"
import type { Message as EffectMessage } from "./Message.ts"
import type { Topic } from "./Topic.ts"
import type {
  GroupLag,
  PublishReceipt,
  SettingDifference,
  TopicInfo,
  TransportService,
  TransportStatus,
  UpdateTopicOptions
} from "./Transport.ts"

/** A received message whose controls return Promises; the rest is as in the Effect face's `Message`. */
export interface Message<A> extends Omit<EffectMessage<A>, "ack" | "nak" | "term" | "working"> {
  /** Done: not delivered to this group again. Call only after the message's effect happened. */
  ack(): Promise<void>
  /** Not done: deliver again, after `delay` (a duration such as `"5 seconds"`, or milliseconds) when given. */
  nak(delay?: Duration.Input): Promise<void>
  /** Never deliver again, without success. */
  term(): Promise<void>
  /** Still working: restart the ack wait. */
  working(): Promise<void>
}

/**
 * What the Promise face runs for each message: resolves once its effect happened, throws when it did not.
 * `signal` aborts when the handler overran `handlerTimeout`, or when `stop` (or `close`) gave up waiting for
 * it after `stopTimeout`: its message is then no longer held, and may be delivered again, so stop working on
 * it. Sluice cannot stop a Promise; a handler that ignores the signal runs on.
 */
export type Handler<A> = (message: Message<A>, signal: AbortSignal) => Promise<void> | void

/** A running consumer of the Promise face. */
export interface ConsumerHandle {
  /** Stops gracefully: no new messages, running handlers finish and are acknowledged, the rest is redelivered later. */
  stop(): Promise<void>
  /**
   * Settles when the consumer stopped; rejects when its subscription failed, as it does with
   * `TransportUnavailable` once the transport lost its connection for longer than it allows (NATS:
   * `disconnectTimeout`).
   */
  readonly done: Promise<void>
}

/**
 * An open subscription: its messages, in a `for await` loop. Leaving the loop (or `close`, or the client's
 * `close`) ends it: a loop over it completes, and every message it took and nobody settled goes back to the
 * broker at once, to be delivered again. Settle messages before you leave.
 */
export interface Subscription<A> extends AsyncIterable<Message<A>> {
  /** Ends the subscription. Idempotent. */
  close(): Promise<void>
}

/**
 * Options of {@link connect}: the transport, the Bus's options, and where Sluice's log lines go (`logLevel`,
 * default `"info"`, `"none"` for silence; `logger`, default one line each on the console; see `Logging`).
 */
export interface ConnectOptions extends Bus.BusOptions, Logging.Options {
  /** The transport; the embedded memory broker when absent. */
  readonly transport?: Layer.Layer<TransportService, unknown>
}

/** A connection to a broker, with Promise-returning methods. */
export interface Client {
  /** The Effect face of the same connection, for code that mixes both. */
  readonly bus: Bus.BusShape
  /**
   * The connection's status now: `"connected"`; `"reconnecting"` while the connection is lost and the
   * transport tries to get it back; `"closed"` once `close` ran (or the transport gave up reconnecting).
   */
  readonly status: TransportStatus
  /**
   * Calls `listener` with each change of the connection's status from now on (`status` says the current
   * one), in order, the last being `"closed"`. Returns the function that removes the listener. A listener
   * that throws is logged and stays.
   *
   * ```ts
   * const off = sluice.on("status", (status) => console.log(`broker ${status}`))
   * ```
   */
  on(event: "status", listener: (status: TransportStatus) => void): () => void
  publish<A>(topic: Topic<A>, value: A, options?: Bus.PublishOptions): Promise<PublishReceipt>
  publishAll<A>(topic: Topic<A>, values: Iterable<A>): Promise<ReadonlyArray<PublishReceipt>>
  /**
   * Runs `handler` for each message: acknowledged when it resolves, delivered again
   * later when it throws, dead-lettered on the last allowed delivery.
   */
  consume<A>(topic: Topic<A>, options: ConsumeOptions, handler: Handler<A>): Promise<ConsumerHandle>
  /**
   * Opens a subscription: when it resolves, the group (or the broadcast subscription) exists, and every
   * message published from then on reaches it. Iterate it with `for await` to receive messages and settle
   * them yourself; leaving the loop closes it.
   */
  subscribe<A>(topic: Topic<A>, options?: Bus.SubscribeOptions): Promise<Subscription<A>>
  /**
   * Makes the topic's settings those of its definition exactly, logs each change and returns them; refuses a
   * change that would remove stored messages unless `allowDiscard` (see `Bus.BusShape.updateTopic`).
   * Publishing and consuming never change a topic that exists.
   */
  updateTopic<A>(topic: Topic<A>, options?: UpdateTopicOptions): Promise<ReadonlyArray<SettingDifference>>
  /**
   * Makes a group's settings those `consume` creates it with, given these options, logs each change and
   * returns them (see `Bus.BusShape.updateGroup`). Consuming never changes a group that exists.
   */
  updateGroup<A>(topic: Topic<A>, group: string, options: Bus.GroupOptions): Promise<ReadonlyArray<SettingDifference>>
  lag<A>(topic: Topic<A>, group: string): Promise<GroupLag>
  topicInfo<A>(topic: Topic<A>): Promise<TopicInfo>
  /**
   * Closes every subscription (their loops and Observables complete, unsettled messages go back at once),
   * stops every consumer gracefully (running handlers get `stopTimeout` to finish, then their signal aborts),
   * then closes the transport. Afterwards every method rejects with `TransportUnavailable`. Calls during a
   * close wait for it.
   */
  close(): Promise<void>
  /**
   * Shuts down gracefully at the first of `signals` (default `["SIGTERM", "SIGINT"]`): `close` (running
   * handlers finish within `stopTimeout` and are acknowledged, what was not started goes back to the broker
   * at once, the transport closes), then the process ends as the signal would have made it end: the handlers
   * go and the signal is raised again, so that its parent sees it killed by that signal, unless other
   * listeners of the signal remain, which then decide, as they would have without Sluice. A second signal
   * during the close ends the process at once. Each step is logged.
   *
   * Returns the function that uninstalls the handlers; they go by themselves once the client closed.
   *
   * ```ts
   * const sluice = await Sluice.connect(NatsTransport.nats({ servers }))
   * sluice.closeOnSignals()
   * ```
   *
   * @throws {InvalidConfig} when `signals` is not a non-empty list of signals a process can trap.
   */
  closeOnSignals(signals?: ReadonlyArray<NodeJS.Signals>): () => void
}

/** Connects to a broker: the embedded memory broker unless `options.transport` is given. */
export const connect = async (options: ConnectOptions = {}): Promise<Client> => {
  const problem = firstProblem(
    object("options", options),
    options.transport === undefined || Layer.isLayer(options.transport)
      ? undefined
      : invalid(
          "transport",
          options.transport,
          "a Layer of the TransportService (MemoryTransport.layer(), NatsTransport.layer(...))"
        ),
    Logging.validate(options)
  )
  if (problem !== undefined) throw problem
  const { transport = MemoryTransport.layer(), logLevel, logger, ...busOptions } = options
  // The transport is built in the logging's context, so that its own fibers log where the client's do.
  const logging = Logging.layer({
    ...(logLevel === undefined ? {} : { logLevel }),
    ...(logger === undefined ? {} : { logger })
  })
  const runtime = ManagedRuntime.make(Bus.layer(busOptions).pipe(Layer.provide(transport), Layer.provideMerge(logging)))
  const context = await runtime.context()
  const bus = Context.get(context, Bus.Bus)
  const runner = runnerOf(context)
  const { run } = runner
  const status = await followStatus(bus, runner)
  const consumers = new Set<ConsumerHandle>()
  const subscriptions = new Set<{ close(): Promise<void> }>()
  let closed = false
  let closing: Promise<void> | undefined
  /** The traps of `closeOnSignals`; those that caught no signal go once the client closed. */
  const traps = new Set<Trap>()
  /** Fails once the client is closed: its transport is gone. */
  const ensureOpen = (operation: string) =>
    Effect.suspend(() =>
      closed ? Effect.fail(new TransportUnavailable({ operation, reason: "the client is closed" })) : Effect.void
    )

  const consume = async <A>(
    topic: Topic<A>,
    consumeOptions: ConsumeOptions,
    handler: Handler<A>
  ): Promise<ConsumerHandle> => {
    await run(ensureOpen("consume"))
    const scope = await run(Scope.make())
    const started = await run(
      Effect.exit(
        Scope.provide(scope)(
          bus.consume(topic, consumeOptions, (message) =>
            Effect.tryPromise({
              // Interrupting the handler's fiber (timeout, stop timeout) aborts the signal.
              try: async (signal) => handler(toPromiseMessage(message, runner), signal),
              catch: (error) => error
            })
          )
        )
      )
    )
    if (Exit.isFailure(started)) {
      await run(Scope.close(scope, Exit.void))
      throw Cause.squash(started.cause)
    }
    const stop = () => run(Scope.close(scope, Exit.void))
    const handle: ConsumerHandle = {
      stop: async () => {
        consumers.delete(handle)
        await stop()
      },
      done: run(started.value.done)
    }
    handle.done.catch(() => undefined)
    consumers.add(handle)
    return handle
  }

  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true
      await Promise.all([...subscriptions].map((subscription) => subscription.close()))
      await Promise.all([...consumers].map((consumer) => consumer.stop()))
      await runtime.dispose()
      await status.close()
      for (const trap of traps) if (trap.caught === undefined) trap.uninstall()
      traps.clear()
    })()
    return closing
  }

  const subscribe = async <A>(topic: Topic<A>, subscribeOptions?: Bus.SubscribeOptions): Promise<Subscription<A>> => {
    await run(ensureOpen("subscribe"))
    const scope = await run(Scope.make())
    const opened = await run(Effect.exit(Scope.provide(scope)(bus.subscribe(topic, subscribeOptions))))
    if (Exit.isFailure(opened)) {
      await run(Scope.close(scope, Exit.void))
      throw Cause.squash(opened.cause)
    }
    const subscription: PromiseSubscription<A> = new PromiseSubscription(
      Stream.map(opened.value, (message) => toPromiseMessage(message, runner)),
      scope,
      runner,
      () => subscriptions.delete(subscription)
    )
    subscriptions.add(subscription)
    return subscription
  }

  return {
    bus,
    get status() {
      return status.current
    },
    on: (event, listener) => {
      if (event !== "status") throw invalid("event", event, 'the name of an event of the client ("status")')
      if (typeof listener !== "function") throw invalid("listener", listener, "a function")
      return status.on(listener)
    },
    publish: (topic, value, publishOptions) =>
      run(Effect.andThen(ensureOpen("publish"), bus.publish(topic, value, publishOptions))),
    publishAll: (topic, values) => run(Effect.andThen(ensureOpen("publish"), bus.publishAll(topic, values))),
    consume,
    subscribe,
    updateTopic: (topic, updateOptions) =>
      run(Effect.andThen(ensureOpen("updateTopic"), bus.updateTopic(topic, updateOptions))),
    updateGroup: (topic, group, groupOptions) =>
      run(Effect.andThen(ensureOpen("updateGroup"), bus.updateGroup(topic, group, groupOptions))),
    lag: (topic, group) => run(Effect.andThen(ensureOpen("lag"), bus.lag(topic, group))),
    topicInfo: (topic) => run(Effect.andThen(ensureOpen("topicInfo"), bus.topicInfo(topic))),
    close,
    closeOnSignals: (signals = defaultSignals) => {
      const problem = signalsProblem(signals)
      if (problem !== undefined) throw problem
      const trap = trapSignals(
        signals,
        (signal) =>
          close().catch((error: unknown) =>
            run(Effect.logError(`closing on ${signal} failed; ending the process as ${signal} would`, Cause.die(error)))
          ),
        (signal, which) =>
          void run(
            which === "first"
              ? Effect.logInfo(
                  `${signal}: closing gracefully, then ending the process (another ${signal} ends it at once)`
                )
              : Effect.logWarning(`${signal} again: ending the process at once, before the close finished`)
          )
      )
      traps.add(trap)
      return () => {
        traps.delete(trap)
        trap.uninstall()
      }
    }
  }
}

/**
 * The status of a client's connection, followed from the Bus's status stream, and its listeners. Once the
 * client closed, it is "closed", whatever the transport (one the client does not own may live on).
 */
const followStatus = async (bus: Bus.BusShape, { context, run }: Runner) => {
  let current: TransportStatus | undefined
  const listeners = new Set<(status: TransportStatus) => void>()
  const known = Promise.withResolvers<void>()
  const update = (status: TransportStatus) => {
    if (status === current || current === "closed") return
    const first = current === undefined
    current = status
    if (first) return known.resolve()
    for (const listener of [...listeners])
      try {
        listener(status)
      } catch (error) {
        Effect.runForkWith(context)(Effect.logError("a status listener threw", Cause.die(error)))
      }
  }
  const fiber = Effect.runForkWith(context)(
    Stream.runForEach(bus.status, (status) => Effect.sync(() => update(status)))
  )
  // The stream gives the current status first; should it end without one, the transport is gone.
  fiber.addObserver(() => known.resolve())
  await known.promise
  return {
    get current(): TransportStatus {
      return current ?? "closed"
    },
    on: (listener: (status: TransportStatus) => void) => {
      const own = (status: TransportStatus) => listener(status)
      listeners.add(own)
      return () => {
        listeners.delete(own)
      }
    },
    /** The client closed: its status is "closed" from now on. */
    close: async () => {
      await run(Fiber.interrupt(fiber))
      update("closed")
    }
  }
}
