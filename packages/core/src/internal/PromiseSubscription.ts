/**
 * A subscription of the Promise face: open from the moment `subscribe` resolves until it is closed, by
 * `close`, by leaving a `for await` loop over it, or by its client closing.
 *
 * Invariant: closing completes the loops over it and hands back at once what it took and nobody settled.
 *
 * Why: a loop left early must not strand messages until their ack wait.
 */
import { Exit, Scope, Stream } from "effect"
import type { TransportError } from "../errors.ts"
import type { Message, Subscription } from "../Sluice.ts"
import type { Runner } from "./promises.ts"

export class PromiseSubscription<A> implements Subscription<A> {
  /** Its messages, as the Promise face gives them; for the RxJS face, which runs them without a Promise each. */
  readonly stream: Stream.Stream<Message<A>, TransportError>
  /** Runs its stream and its close in its client's context. */
  readonly runner: Runner
  readonly #scope: Scope.Closeable
  readonly #onClose: () => void
  #closing: Promise<void> | undefined

  /**
   * @param scope Holds the broker subscription: closing it ends the stream.
   * @param onClose Told once the subscription closed.
   */
  constructor(
    stream: Stream.Stream<Message<A>, TransportError>,
    scope: Scope.Closeable,
    runner: Runner,
    onClose: () => void
  ) {
    this.stream = stream
    this.runner = runner
    this.#scope = scope
    this.#onClose = onClose
  }

  close(): Promise<void> {
    this.#closing ??= this.runner.run(Scope.close(this.#scope, Exit.void)).then(this.#onClose)
    return this.#closing
  }

  [Symbol.asyncIterator](): AsyncIterator<Message<A>> {
    const messages = Stream.toAsyncIterableWith(this.stream, this.runner.context)[Symbol.asyncIterator]()
    return {
      next: () => messages.next(),
      // Leaving a loop (`break`, `return`, a throw) closes the subscription; its stream then completes.
      return: async () => {
        await this.close()
        await messages.return?.()
        return { done: true, value: undefined }
      }
    }
  }
}
