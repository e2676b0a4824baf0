/**
 * @sluice/core: typed topics, the Transport port, the embedded memory broker,
 * the Bus, actors, and the Promise face (`Sluice`). The RxJS face is the
 * subpath `@sluice/core/rx`.
 */
export * as Actor from "./Actor.ts"
export {
  Bus,
  type BusOptions,
  type BusShape,
  type PublishOptions,
  type SubscribeOptions
} from "./Bus.ts"
export * as Codec from "./Codec.ts"
export type { ConsumeOptions, Consumer } from "./Consumer.ts"
export * as DeadLetter from "./DeadLetter.ts"
export * as Dispatch from "./Dispatch.ts"
export * from "./errors.ts"
export type { Handler, Middleware } from "./Handler.ts"
export * as MemoryTransport from "./MemoryTransport.ts"
export type { Message } from "./Message.ts"
export * as Sluice from "./Sluice.ts"
export * as Topic from "./Topic.ts"
export {
  type Delivery,
  type GroupLag,
  type OutgoingRecord,
  type PublishReceipt,
  StartPosition,
  type SubscriptionOptions,
  type TopicConfig,
  type TopicInfo,
  type Transport,
  type TransportFeatures,
  TransportService
} from "./Transport.ts"
export * as TransportChecks from "./TransportChecks.ts"
export * as TransportDefaults from "./TransportDefaults.ts"
