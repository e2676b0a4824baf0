import { MemoryTransport } from "@sluice/core"
import { transportSuite } from "../src/index.ts"

transportSuite("MemoryTransport", MemoryTransport.make(), MemoryTransport.features)
