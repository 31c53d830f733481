/**
 * The node instance shared by the training stages that train one model on one loss
 * (`teacher-training`, `v-finetune`, `autoencoder-training`, `classifier-training`,
 * `guidance-distillation`): copy the input model, train it (resumable, checkpointed), write
 * model.safetensors, resolve the `model` output.
 * They differ only in how the student is made, its loss, names, and what is measured at the end.
 */
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import type * as tf from '@tensorflow/tfjs-core';
import type { NodeContext, NodeInstance, PortSpec } from '../registry/types';
import { batchStreamPort } from '../registry/ports';
import type { Batch } from '../data/batch';
import { choiceSplit, DATASET_PORT_TYPE, type DatasetResource } from '../data/resource';
import type { NoiseSchedule } from '../diffusion/schedule';
import { denoisingStageLoss, runDenoisingStage, type MicroBatchLoss, type StageHandle, type StageModel, type StageReplay } from './denoising';
import type { LossWeighting } from './common';
import { deferred, MODEL_PORT_TYPE, optimizationOf, reuseFinishedModel, saveModelFile, stageProgress, type StageNodeCommonConfig } from './node-support';
import type { TrainableDenoiser } from './types';
import { nodeValidation, validationClasses } from './validation';
import type { ConditionalDenoiser } from '../models/types';
import type { LatentDecoder } from '../eval/evaluate';
import { FIRST_STAGE_PORT_TYPE, latentDecoder, type FirstStage } from '../ldm/first-stage';
import { distributedRunOf } from '../distributed/context';

type SavableModel<T> = StageModel<T> & { getWeights(): Record<string, tf.Tensor>; config: unknown };

export interface TrainingStageNodeOptions<T extends SavableModel<T>> {
  /** Node type, recorded in model.safetensors' metadata. */
  nodeType: string;
  /** Stage name for logs, random streams and checkpoints. */
  stage: string;
  /** Progress-bar label. */
  progressLabel: string;
  /** The student, made from the input model (a copy; the input is never changed). */
  makeStudent(model: T): T;
  lossFor(student: T): MicroBatchLoss;
  /** The seed's replay for this stage (absent or blockBatches 0: lock-step); spilled under `<node>/replay/`. */
  replay?(student: T): Omit<StageReplay, 'dir'> | undefined;
  /** Extra fields of model.safetensors' metadata (after `stage`, before `iterations` and `seed`). */
  metadata?: Record<string, string>;
  /** Measures the trained model on held-out data; adds what it measured to the file's metadata. */
  afterTraining?(trained: T, data: DatasetResource, metadata: Record<string, string>): Promise<void>;
  /**
   * For the denoising stages: validation grids (config key `validation`) sample the student with this
   * schedule, decoding through the node's optional `autoencoder` input.
   */
  validation?: (student: T, step: number, sampleShape: [number, number, number]) => Promise<void>;
}

export function trainingStageInstance<T extends SavableModel<T>>(
  ctx: NodeContext<StageNodeCommonConfig>, options: TrainingStageNodeOptions<T>,
): NodeInstance {
  const c = ctx.config;
  const result = deferred<T>();
  const handle: StageHandle = {};
  const modelFile = path.join(ctx.outDir, 'model.safetensors');
  let trained: T | undefined;
  return {
    resources: { model: result.promise },
    async run() {
      const student = options.makeStudent(ctx.resources.model as T);
      const finished = await reuseFinishedModel(ctx, () => student.clone(), modelFile);
      if (finished) {
        student.dispose();
        trained = finished;
        result.resolve(finished);
        return;
      }
      const data = ctx.resources.data as DatasetResource | undefined;
      const progress = stageProgress(ctx, options.progressLabel, c.iterations, c.logEvery);
      const replay = options.replay?.(student);
      const distributed = distributedRunOf(ctx.container);
      try {
        // Fail before training, not at the first grid.
        if (options.validation && c.validation) validationClasses(c.validation, student as unknown as ConditionalDenoiser);
        trained = await runDenoisingStage<T>({
          name: options.stage, student, batches: ctx.streams.batches as Observable<Batch>, optimization: optimizationOf(c),
          lossFor: options.lossFor(student), seed: ctx.seed, checkpointDir: path.join(ctx.outDir, 'checkpoints'), resume: ctx.resume,
          heldOut: data ? choiceSplit(data).data : undefined, evalBatches: c.evalBatches, evalBatchSize: c.evalBatchSize, signal: ctx.signal, progress: progress.report, logEvery: c.logEvery,
          ...(replay ? { replay: { ...replay, dir: path.join(ctx.outDir, 'replay') } } : {}),
          onEvaluation: (step, value) => progress.evaluation(step, value),
          ...(options.validation && c.validation && c.validation.every > 0 ? { validation: { every: c.validation.every, run: options.validation } } : {}),
          ...(distributed ? { distributed } : {}),
        }, handle);
        const metadata: Record<string, string> = {
          stage: options.nodeType, ...options.metadata, iterations: String(c.iterations), seed: String(ctx.seed),
        };
        if (data && options.afterTraining) await options.afterTraining(trained, data, metadata);
        await saveModelFile(trained, modelFile, metadata);
        result.resolve(trained);
      } catch (err) {
        result.reject(err);
        throw err;
      } finally {
        progress.done();
        student.dispose();
      }
    },
    async saveState() {
      await handle.trainer?.checkpoint();
    },
    dispose() {
      trained?.dispose();
    },
  };
}

export interface DenoisingStageNodeConfig extends StageNodeCommonConfig {
  lossWeighting: LossWeighting;
  minSnrGamma: number;
  noiseOffset: number;
}

/** `teacher-training` / `v-finetune`: a denoiser trained on its own target under the schedule input. */
export function denoisingStageInstance(
  ctx: NodeContext<DenoisingStageNodeConfig>,
  options: Omit<TrainingStageNodeOptions<TrainableDenoiser>, 'lossFor' | 'afterTraining'>,
): NodeInstance {
  const c = ctx.config;
  return trainingStageInstance<TrainableDenoiser>(ctx, {
    ...options,
    lossFor: (student) => denoisingStageLoss(student, ctx.resources.schedule as NoiseSchedule, { weighting: c.lossWeighting, minSnrGamma: c.minSnrGamma, noiseOffset: c.noiseOffset }),
    validation: denoiserValidation(ctx),
  });
}

/** The validation hook of a denoising stage node (inputs `schedule` and the optional `autoencoder`). */
export function denoiserValidation(ctx: NodeContext<StageNodeCommonConfig>): TrainingStageNodeOptions<TrainableDenoiser>['validation'] {
  const hook = nodeValidation(ctx, ctx.config.validation, () => ctx.resources.schedule as NoiseSchedule, () => firstStageDecoder(ctx.resources.autoencoder));
  return hook ? (student, step, shape) => hook.run(student, step, shape) : undefined;
}

/** A decoder over an optional first-stage input (absent: samples are images already). */
export function firstStageDecoder(model: unknown): LatentDecoder | undefined {
  return model ? latentDecoder(model as FirstStage) : undefined;
}

/** The optional `autoencoder` input of the denoising stage nodes. */
export const VALIDATION_DECODER_PORT = {
  kind: 'resource', type: FIRST_STAGE_PORT_TYPE, optional: true,
  description: 'First stage (decode(latents) → images) for the validation grids; absent: the samples are shown as they are (images, or a latent\'s first channel).',
} as const;

/**
 * The inputs every denoising stage node (teacher-training, v-finetune, guidance-distillation,
 * progressive-distillation) declares — its model, the noise schedule, the batch stream, the optional
 * held-out data and validation decoder — with the node's own words for the ones that differ.
 */
export function denoisingStageInputs(descriptions: { model: string; batches: string; schedule?: string }): Record<string, PortSpec> {
  return {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: descriptions.model },
    schedule: { kind: 'resource', type: 'noise-schedule', description: descriptions.schedule ?? 'The training noise schedule.' },
    batches: batchStreamPort(descriptions.batches),
    data: { kind: 'resource', type: DATASET_PORT_TYPE, optional: true, description: 'Held-out data for the evaluation loss (best checkpoint).' },
    autoencoder: VALIDATION_DECODER_PORT,
  };
}
