/** The suite every Sluice transport passes unchanged. */
export { transportSuite } from "./transportSuite.ts"
