/**
 * Turns among the implementations of one case. They run in child processes at the same time, but only
 * one at a time does measured work: a child asks for a turn before each piece of it (loading its code,
 * warming up, each round), runs it alone, and gives the turn back by asking for the next one or by
 * leaving. Turns go round in plan order, the baseline first, so each implementation's rounds alternate
 * with the other's and meet the machine in the same state. On a shared 2-core machine, and more so
 * with a 3-node cluster on it, the speed drifts by a fifth and more over tens of seconds: measured one
 * after the other, two implementations would be compared across that drift.
 */
export class Turns {
  readonly #members: number
  /** Members that asked and wait for their turn, with how to tell them to go. */
  readonly #waiting = new Map<number, () => void>()
  readonly #left = new Set<number>()
  #holder: number | undefined
  #next = 0

  /** @param members How many take turns, a count; they are numbered from 0 in the order of their turns. */
  constructor(members: number) {
    this.#members = members
  }

  /** `member` asks for its next turn, which ends the one it holds; `go` is called when the turn is its. */
  ask(member: number, go: () => void): void {
    if (this.#holder === member) this.#holder = undefined
    this.#waiting.set(member, go)
    this.#grant()
  }

  /** `member` takes no more turns (it finished or failed); the turn it holds, if any, passes on. */
  leave(member: number): void {
    this.#left.add(member)
    this.#waiting.delete(member)
    if (this.#holder === member) this.#holder = undefined
    this.#grant()
  }

  /**
   * Gives the turn to the next member in order that has not left, once it asks: the others wait for it
   * rather than run twice in a row.
   */
  #grant(): void {
    if (this.#holder !== undefined) return
    for (let step = 0; step < this.#members; step++) {
      const member = (this.#next + step) % this.#members
      if (this.#left.has(member)) continue
      const go = this.#waiting.get(member)
      if (go === undefined) return
      this.#waiting.delete(member)
      this.#holder = member
      this.#next = (member + 1) % this.#members
      go()
      return
    }
  }
}
