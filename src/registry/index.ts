/** Node-type registry and plugins: the public entry of `src/registry`. */
export * from './types';
export { BATCH_PORT_TYPE, batchStreamPort } from './ports';
export { NodeRegistry, registerNodeType } from './registry';
export { loadPlugin, loadPluginList, registerPlugin, registerPluginCollecting, checkPluginShape, isPathSpec, type LoadedPluginEntry } from './plugins';
export { closestMatch, editDistance, suggestionHint } from '../schema/suggest';
