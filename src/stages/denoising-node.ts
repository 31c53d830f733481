/**
 * The node instance shared by the stages that train a denoiser on its own target (`teacher-training`,
 * `v-finetune`): they differ only in how the student is made from the input model and in their names.
 */
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import type { NodeContext, NodeInstance } from '../registry/types';
import type { Batch } from '../data/batch';
import type { DatasetResource } from '../data/resource';
import type { NoiseSchedule } from '../diffusion/schedule';
import { denoisingStageLoss, runDenoisingStage, type StageHandle } from './denoising';
import type { LossWeighting } from './common';
import { deferred, optimizationOf, reuseFinishedModel, saveModelFile, stageProgress, type StageNodeCommonConfig } from './node-support';
import type { TrainableDenoiser } from './types';

export interface DenoisingStageNodeConfig extends StageNodeCommonConfig {
  lossWeighting: LossWeighting;
  minSnrGamma: number;
}

export interface DenoisingStageNodeOptions {
  /** Node type, recorded in model.safetensors' metadata. */
  nodeType: string;
  /** Stage name for logs and checkpoints. */
  stage: string;
  /** Progress-bar label. */
  progressLabel: string;
  /** The student, made from the input model (a copy; the input is never changed). */
  makeStudent(model: TrainableDenoiser): TrainableDenoiser;
}

export function denoisingStageInstance(ctx: NodeContext<DenoisingStageNodeConfig>, options: DenoisingStageNodeOptions): NodeInstance {
  const c = ctx.config;
  const result = deferred<TrainableDenoiser>();
  const handle: StageHandle = {};
  const modelFile = path.join(ctx.outDir, 'model.safetensors');
  let trained: TrainableDenoiser | undefined;
  return {
    resources: { model: result.promise },
    async run() {
      const student = options.makeStudent(ctx.resources.model as TrainableDenoiser);
      const finished = await reuseFinishedModel(ctx, () => student.clone(), modelFile);
      if (finished) {
        student.dispose();
        trained = finished;
        result.resolve(finished);
        return;
      }
      const schedule = ctx.resources.schedule as NoiseSchedule;
      const progress = stageProgress(ctx, options.progressLabel, c.iterations, c.logEvery);
      try {
        trained = await runDenoisingStage({
          name: options.stage, student, batches: ctx.streams.batches as Observable<Batch>, optimization: optimizationOf(c),
          lossFor: denoisingStageLoss(student, schedule, { weighting: c.lossWeighting, minSnrGamma: c.minSnrGamma }),
          seed: ctx.seed, checkpointDir: path.join(ctx.outDir, 'checkpoints'), resume: ctx.resume,
          heldOut: (ctx.resources.data as DatasetResource | undefined)?.test, evalBatches: c.evalBatches, evalBatchSize: c.evalBatchSize,
          signal: ctx.signal, progress: progress.report,
        }, handle);
        await saveModelFile(trained, modelFile, { stage: options.nodeType, iterations: String(c.iterations), seed: String(ctx.seed) });
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
