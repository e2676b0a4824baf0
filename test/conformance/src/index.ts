/** The suite every Sluice transport passes unchanged. */
export type { RestartableBroker } from "./restart.ts"
export { transportSuite } from "./transportSuite.ts"
