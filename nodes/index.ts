/**
 * Built-in node types, registered explicitly through the same public call plugins use.
 * Add one line per node type (keep alphabetical); there is no discovery by file name.
 */
import type { NodeTypeDefinition } from '../src/registry/types';
import { idxDatasetNode } from './idx-dataset';
import { latentDatasetNode } from './latent-dataset';
import { mnistDatasetNode } from './mnist-dataset';
import { noiseScheduleNode } from './scheduler';

export const builtinNodeTypes: NodeTypeDefinition[] = [
  idxDatasetNode,
  latentDatasetNode,
  mnistDatasetNode,
  noiseScheduleNode,
];
