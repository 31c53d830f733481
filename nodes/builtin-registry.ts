/**
 * A registry holding Distillery's built-in node types, registered through the same public call that
 * plugins use (source `built-in`). It sits with the node list, not in the graph layer (built-in nodes
 * import TensorFlow.js, which the graph layer must not) and not in the runtime (which runs whatever
 * registry its caller — src/cli, a program using the public API — hands it).
 */
import { builtinNodeTypes } from './index';
import { NodeRegistry, registerNodeType } from '../src/registry/registry';

export const BUILTIN_SOURCE = 'built-in';

export function createRegistry(options: { builtins?: boolean } = {}): NodeRegistry {
  const registry = new NodeRegistry();
  if (options.builtins !== false) for (const def of builtinNodeTypes) registerNodeType(registry, def, BUILTIN_SOURCE);
  return registry;
}
