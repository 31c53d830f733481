/**
 * Built-in node types, registered explicitly through the same public call plugins use.
 * Add one line per node type (keep alphabetical); there is no discovery by file name.
 */
import type { NodeTypeDefinition } from '../src/registry/types';
import { noiseScheduleNode } from './scheduler';

export const builtinNodeTypes: NodeTypeDefinition[] = [
  noiseScheduleNode,
];
