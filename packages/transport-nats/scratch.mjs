import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"

const nc = await connect({ servers: "127.0.0.1:4222" })
const jsm = await jetstreamManager(nc)
const js = jetstream(nc)
const s = "probe-stale-" + Date.now()
await jsm.streams.add({ name: s, subjects: [s] })
await jsm.consumers.add(s, { durable_name: "g", ack_policy: AckPolicy.Explicit, ack_wait: 3e9 })
await js.publish(s, "one")
const c = await js.consumers.get(s, "g")
const t0 = Date.now()
const a = await c.fetch({ max_messages: 10, expires: 5000, idle_heartbeat: 1000 })
let held
for await (const m of a) {
  held = m
  console.log("A got", m.info.deliveryCount, Date.now() - t0)
  break
}
a.stop()
await new Promise((r) => setTimeout(r, 50))
held.nak()
const b = await c.fetch({ max_messages: 10, expires: 5000, idle_heartbeat: 1000 })
for await (const m of b) {
  console.log("B got", m.info.deliveryCount, Date.now() - t0)
  m.ack()
}
await jsm.streams.delete(s)
await nc.close()
