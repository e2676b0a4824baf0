import { describe, expect, it } from "vitest"
import type { Transport } from "../src/index.ts"
import { KeepAlive } from "../src/internal/consumer/KeepAlive.ts"

/** Stand-ins for deliveries: KeepAlive only hands them back. */
const deliveries = (count: number): Array<Transport.Delivery> =>
  Array.from({ length: count }, (_, index) => ({ id: `m${index}` }) as unknown as Transport.Delivery)
const ids = (held: ReadonlyArray<Transport.Delivery>) => held.map((delivery) => delivery.id)

describe("the deliveries a consumer keeps alive", () => {
  it("marks those held for an interval as worked on, again only an interval later", () => {
    const keepAlive = new KeepAlive(1000)
    const [a, b] = deliveries(2) as [Transport.Delivery, Transport.Delivery]
    keepAlive.take(a, 0)
    keepAlive.take(b, 600)
    expect(ids(keepAlive.due(999))).toEqual([])
    expect(ids(keepAlive.due(1000))).toEqual(["m0"])
    expect(ids(keepAlive.due(1600))).toEqual(["m1"])
    expect(ids(keepAlive.due(1999))).toEqual([])
    expect(ids(keepAlive.due(2000))).toEqual(["m0"])
  })

  it("forgets a delivery once released, wherever it was in the order taken, and ignores a second release", () => {
    const keepAlive = new KeepAlive(1000)
    const held = deliveries(5)
    const holds = held.map((delivery) => keepAlive.take(delivery, 0))
    const [first, second, , fourth, last] = holds
    for (const hold of [second, first, last, fourth, second]) if (hold !== undefined) keepAlive.release(hold)
    expect(ids(keepAlive.due(1000))).toEqual(["m2"])
    expect(ids(keepAlive.releaseAll())).toEqual(["m2"])
    expect(ids(keepAlive.due(5000))).toEqual([])
  })

  it("takes new deliveries after all were released, and hands back those still held in the order taken", () => {
    const keepAlive = new KeepAlive(1000)
    const [a, b, c] = deliveries(3) as [Transport.Delivery, Transport.Delivery, Transport.Delivery]
    keepAlive.release(keepAlive.take(a, 0))
    keepAlive.take(b, 0)
    keepAlive.take(c, 0)
    expect(ids(keepAlive.releaseAll())).toEqual(["m1", "m2"])
    expect(ids(keepAlive.releaseAll())).toEqual([])
  })
})
