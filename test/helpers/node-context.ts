/** A NodeContext for unit tests of node types: the one plugin authors get from `distillery/testing`. */
export { nodeContext, type TestContext, type TestContextOptions } from '../../src/testing/context';
