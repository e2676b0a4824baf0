/**
 * @sluice/core: typed topics, the Transport port, the embedded memory broker, the Bus and its consumer
 * runtime, actors, dead letters, and the Promise face (`Sluice`). The RxJS face is the subpath
 * `@sluice/core/rx`. Every module is exported as a namespace of its own, as Effect's are: `Bus.make`,
 * `Bus.Bus` (the service), `Errors.TopicFull`, `Transport.Delivery`, `StartPosition.all`.
 *
 * Invariant: nothing of `internal/` is exported; every public name is a member of one module's namespace.
 *
 * Why: one rule, so that a user never guesses whether a name is `ConsumeOptions` or `Consumer.ConsumeOptions`.
 */
export * as Actor from "./Actor.ts"
export * as Bus from "./Bus.ts"
export * as Codec from "./Codec.ts"
export * as Consumer from "./Consumer.ts"
export * as DeadLetter from "./DeadLetter.ts"
export * as Dispatch from "./Dispatch.ts"
export * as Errors from "./errors.ts"
export * as Handler from "./Handler.ts"
export * as Logging from "./Logging.ts"
export * as MemoryTransport from "./MemoryTransport.ts"
export * as Message from "./Message.ts"
export * as Shutdown from "./Shutdown.ts"
export * as Sluice from "./Sluice.ts"
export * as StartPosition from "./StartPosition.ts"
export * as Topic from "./Topic.ts"
export * as Transport from "./Transport.ts"
export * as TransportChecks from "./TransportChecks.ts"
export * as TransportDefaults from "./TransportDefaults.ts"
