/** Node-type registry and plugins: the public entry of `src/registry`. */
export * from './types';
export { NodeRegistry, registerNodeType } from './registry';
export { loadPlugin, registerPlugin, registerPluginCollecting, checkPluginShape, isPathSpec } from './plugins';
export { closestMatch, editDistance, suggestionHint } from '../schema/suggest';
