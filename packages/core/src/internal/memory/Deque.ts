/**
 * A first-in-first-out sequence with indexed access, for the memory broker's logs.
 *
 * Invariant: pushing never copies what is stored, and removing from the front frees whole chunks.
 *
 * Why: a plain array either copies on growth or keeps a hole at its head.
 */
const CHUNK = 4096

/** A first-in-first-out sequence with indexed access, stored in chunks of {@link CHUNK} elements. */
export class Deque<A> {
  private chunks: Array<Array<A>> = [[]]
  /** Index of the first element within the first chunk. */
  private start = 0
  private count = 0

  get length(): number {
    return this.count
  }

  push(value: A): void {
    let last = this.chunks[this.chunks.length - 1] as Array<A>
    if (last.length === CHUNK) {
      last = []
      this.chunks.push(last)
    }
    last.push(value)
    this.count++
  }

  /** The element `index` places from the front, if there is one. */
  at(index: number): A | undefined {
    if (index < 0 || index >= this.count) return undefined
    const position = this.start + index
    return (this.chunks[Math.floor(position / CHUNK)] as Array<A>)[position % CHUNK]
  }

  /** Replaces the element `index` places from the front, if there is one. */
  set(index: number, value: A): void {
    if (index < 0 || index >= this.count) return
    const position = this.start + index
    ;(this.chunks[Math.floor(position / CHUNK)] as Array<A>)[position % CHUNK] = value
  }

  peek(): A | undefined {
    return this.count === 0 ? undefined : (this.chunks[0] as Array<A>)[this.start]
  }

  shift(): A | undefined {
    if (this.count === 0) return undefined
    const first = this.chunks[0] as Array<A>
    const value = first[this.start] as A
    this.count--
    if (++this.start === CHUNK) {
      this.chunks.shift()
      this.start = 0
      if (this.chunks.length === 0) this.chunks.push([])
    } else if (this.count === 0) {
      // Empty: reuse the only chunk from its beginning.
      this.chunks = [[]]
      this.start = 0
    }
    return value
  }
}
