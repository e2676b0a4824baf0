/**
 * The part of a server's stderr that goes into error messages: its first lines and its last.
 *
 * Invariant: it keeps a bounded number of lines, whatever the server writes, and says how many it left out.
 *
 * Why: a bad flag or config is reported first, before a long usage text; a fatal error at runtime last.
 */

const HEAD_LINES = 3
const TAIL_LINES = 20

/**
 * What a server wrote to stderr, kept short: its first lines (a bad flag or
 * config is reported there, before a long usage text) and its last lines (a
 * fatal error at runtime is reported there).
 */
export class ServerLog {
  readonly #head: Array<string> = []
  readonly #tail: Array<string> = []
  #skipped = 0
  #partial = ""

  /** Takes a chunk of stderr output; lines may span chunks. */
  write(chunk: string): void {
    const lines = (this.#partial + chunk).split("\n")
    this.#partial = lines.pop() ?? ""
    for (const line of lines) this.#add(line)
  }

  #add(line: string): void {
    if (this.#head.length < HEAD_LINES) {
      this.#head.push(line)
      return
    }
    this.#tail.push(line)
    if (this.#tail.length > TAIL_LINES) {
      this.#tail.shift()
      this.#skipped++
    }
  }

  /** The kept lines, with a marker where lines were left out; "(no output)" when there were none. */
  excerpt(): string {
    const lines = [
      ...this.#head,
      ...(this.#skipped > 0 ? [`… ${this.#skipped} lines left out …`] : []),
      ...this.#tail,
      ...(this.#partial === "" ? [] : [this.#partial])
    ]
    return lines.length === 0 ? "(no output)" : lines.join("\n")
  }
}
