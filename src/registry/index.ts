/** Node-type registry and plugins: the public entry of `src/registry`. */
export * from './types';
export { BATCH_PORT_TYPE, batchStreamPort } from './ports';
export { NodeRegistry, registerNodeType } from './registry';
export { loadPlugin, registerPlugin, registerPluginCollecting, checkPluginShape, isPathSpec } from './plugins';
export { closestMatch, editDistance, suggestionHint } from './suggest';
