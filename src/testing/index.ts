/** `distillery/testing`: what node-type authors test with — the conformance suite and a test NodeContext. */
export { conformanceChecks, describeConformance, ConformanceError, type ConformanceCheck, type ConformanceFixture, type ConformanceInputs, type ConformanceOptions } from './conformance';
export { nodeContext, type TestContext, type TestContextOptions } from './context';
