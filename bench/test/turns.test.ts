import { describe, expect, it } from "vitest"
import { Turns } from "../src/turns.ts"

/** Members that ask for turns; `log` records each grant as `member:turn`. */
const members = (count: number) => {
  const turns = new Turns(count)
  const log: Array<string> = []
  const asked = new Map<number, number>()
  const ask = (member: number) => {
    const turn = (asked.get(member) ?? 0) + 1
    asked.set(member, turn)
    turns.ask(member, () => log.push(`${member}:${turn}`))
  }
  return { turns, log, ask }
}

describe("turns among the implementations of a case", () => {
  it("alternates the rounds of two implementations, the baseline first, whoever asks first", () => {
    const { log, ask } = members(2)
    ask(1)
    expect(log).toEqual([])
    ask(0)
    expect(log).toEqual(["0:1"])
    // Asking again ends the turn held: the other, waiting, goes; this one waits for it.
    ask(0)
    expect(log).toEqual(["0:1", "1:1"])
    ask(1)
    expect(log).toEqual(["0:1", "1:1", "0:2"])
    ask(0)
    expect(log).toEqual(["0:1", "1:1", "0:2", "1:2"])
  })

  it("does not give one implementation two turns in a row while the other has yet to ask", () => {
    const { log, ask } = members(2)
    ask(0)
    ask(0)
    expect(log).toEqual(["0:1"])
  })

  it("passes the turn on when its holder leaves, and skips a member that left", () => {
    const { turns, log, ask } = members(2)
    ask(0)
    ask(1)
    turns.leave(0)
    expect(log).toEqual(["0:1", "1:1"])
    ask(1)
    ask(1)
    expect(log).toEqual(["0:1", "1:1", "1:2", "1:3"])
  })

  it("lets the others go on when a member that has the next turn leaves before asking", () => {
    const { turns, log, ask } = members(3)
    ask(0)
    ask(2)
    ask(0)
    expect(log).toEqual(["0:1"])
    turns.leave(1)
    expect(log).toEqual(["0:1", "2:1"])
    ask(2)
    expect(log).toEqual(["0:1", "2:1", "0:2"])
  })
})
