/**
 * Built-in node types, registered explicitly through the same public call plugins use.
 * Add one line per node type (keep alphabetical); there is no discovery by file name.
 */
import type { NodeTypeDefinition } from '../src/registry/types';
import { ddimSamplingNode } from './ddim-sampling';
import { evaluateNode } from './evaluate';
import { guidanceDistillationNode } from './guidance-distillation';
import { idxDatasetNode } from './idx-dataset';
import { latentDatasetNode } from './latent-dataset';
import { mnistDatasetNode } from './mnist-dataset';
import { progressiveDistillationNode } from './progressive-distillation';
import { reportNode } from './report';
import { noiseScheduleNode } from './scheduler';
import { teacherTrainingNode } from './teacher-training';
import { vFinetuneNode } from './v-finetune';

export const builtinNodeTypes: NodeTypeDefinition[] = [
  ddimSamplingNode,
  evaluateNode,
  guidanceDistillationNode,
  idxDatasetNode,
  latentDatasetNode,
  mnistDatasetNode,
  noiseScheduleNode,
  progressiveDistillationNode,
  reportNode,
  teacherTrainingNode,
  vFinetuneNode,
];
