/**
 * Built-in node types, registered explicitly through the same public call plugins use.
 * Add one line per node type (keep alphabetical); there is no discovery by file name.
 */
import type { NodeTypeDefinition } from '../src/registry/types';
import { autoencoderNode } from './autoencoder';
import { autoencoderTrainingNode } from './autoencoder-training';
import { classifierNode } from './classifier';
import { classifierTrainingNode } from './classifier-training';
import { ddimSamplingNode } from './ddim-sampling';
import { encodeLatentsNode } from './encode-latents';
import { evaluateNode } from './evaluate';
import { guidanceDistillationNode } from './guidance-distillation';
import { idxDatasetNode } from './idx-dataset';
import { latentDatasetNode } from './latent-dataset';
import { ldmClassEmbedderNode } from './ldm-class-embedder';
import { ldmFirstStageNode } from './ldm-first-stage';
import { ldmUNetNode } from './ldm-unet';
import { mnistDatasetNode } from './mnist-dataset';
import { progressiveDistillationNode } from './progressive-distillation';
import { reportNode } from './report';
import { noiseScheduleNode } from './noise-schedule';
import { teacherTrainingNode } from './teacher-training';
import { unetNode } from './unet';
import { vFinetuneNode } from './v-finetune';

export const builtinNodeTypes: NodeTypeDefinition[] = [
  autoencoderNode,
  autoencoderTrainingNode,
  classifierNode,
  classifierTrainingNode,
  ddimSamplingNode,
  encodeLatentsNode,
  evaluateNode,
  guidanceDistillationNode,
  idxDatasetNode,
  latentDatasetNode,
  ldmClassEmbedderNode,
  ldmFirstStageNode,
  ldmUNetNode,
  mnistDatasetNode,
  noiseScheduleNode,
  progressiveDistillationNode,
  reportNode,
  teacherTrainingNode,
  unetNode,
  vFinetuneNode,
];
