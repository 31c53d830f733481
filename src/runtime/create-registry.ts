/**
 * A registry holding Distillery's built-in node types, registered through the same public call that
 * plugins use (source `built-in`). The graph layer cannot do this itself: built-in nodes import
 * TensorFlow.js, which the graph layer must not.
 */
import { builtinNodeTypes } from '../../nodes';
import { NodeRegistry, registerNodeType } from '../registry/registry';

export const BUILTIN_SOURCE = 'built-in';

export function createRegistry(options: { builtins?: boolean } = {}): NodeRegistry {
  const registry = new NodeRegistry();
  if (options.builtins !== false) for (const def of builtinNodeTypes) registerNodeType(registry, def, BUILTIN_SOURCE);
  return registry;
}
