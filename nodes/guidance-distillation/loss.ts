/**
 * `guidance-distillation`'s loss (stage one, spec 5.2): the student (v-prediction) learns the teacher's
 * classifier-free-guided prediction, with the ordinary target loss optionally mixed in; split into a
 * target computation and a student loss for the seed's replay blocks. The stage engine's loop
 * (src/stage-engine/denoising.ts) trains on it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import { guidedPredict, type GuidanceSpec } from '../../src/diffusion/guidance';
import { convertPrediction } from '../../src/diffusion/predictions';
import { weightedMse } from '../../src/training/losses';
import { randomUniform, type Rng } from '../../src/training/rng';
import { ConfigError } from '../../src/errors';
import { denoisingLoss, drawNoised, type DenoisingLossOptions } from '../../src/stage-engine/common';
import type { LossParts, MicroBatchLoss } from '../../src/stage-engine/denoising';
import type { ReplayItem } from '../../src/stage-engine/replay';
import type { TrainableDenoiser } from '../../src/stage-engine/types';

export interface GuidanceDistillationLossOptions {
  /** Seed variant: one fixed guidance scale g. */
  guidanceScale?: number;
  /** Paper variant: w ~ U[wMin, wMax] per example, passed to a w-conditioned student. */
  weightRange?: [number, number];
  guidanceRescale?: number;
  /** Weight of the distillation term MSE(v̂_student, guided v̂_teacher). */
  distillWeight: number;
  /** Weight of the ordinary denoising term of the student against the data. */
  targetWeight: number;
  loss: DenoisingLossOptions;
}

/**
 * Stage one (spec 5.2): the student (v-prediction) learns the teacher's guided prediction. Both are
 * compared as v; the teacher is any prediction type. The ordinary target loss can be mixed in.
 */
export function guidanceDistillationLoss(student: TrainableDenoiser, teacher: TrainableDenoiser, schedule: NoiseSchedule,
  o: GuidanceDistillationLossOptions): MicroBatchLoss {
  if ((o.guidanceScale === undefined) === (o.weightRange === undefined)) {
    throw new ConfigError('guidance distillation', [{ path: 'guidanceScale', message: 'give exactly one of a fixed guidance scale (seed) or a weight range (paper)' }]);
  }
  if (o.weightRange && !student.takesGuidanceWeight) {
    throw new ConfigError('guidance distillation', [{ path: 'variant', message: 'the paper variant needs a student with a guidance-weight embedding (guidance_embed: true)' }]);
  }
  const parts = guidanceDistillationParts(student, teacher, schedule, o);
  return (x, labels, rng, recorder) => tf.tidy(() => parts.loss(parts.compute(x, labels, rng), recorder));
}

/**
 * Stage one split for replay: `compute` draws (ε, t, z_t[, w]) and the teacher's guided v target of a
 * micro-batch (what the seed stores); `loss` is the student's loss on such an item. Composed, they are
 * guidanceDistillationLoss.
 */
export function guidanceDistillationParts(student: TrainableDenoiser, teacher: TrainableDenoiser, schedule: NoiseSchedule,
  o: GuidanceDistillationLossOptions): { compute(x: tf.Tensor4D, labels: tf.Tensor1D, rng: Rng): ReplayItem; loss(item: ReplayItem, parts?: LossParts): tf.Scalar } {
  return {
    compute: (x, labels, rng) => tf.tidy(() => {
      const { eps, t, z } = drawNoised(schedule, x, rng, o.loss.noiseOffset);
      const batch = x.shape[0];
      const w = o.weightRange ? randomUniform(rng.fork('w'), [batch], o.weightRange[0], o.weightRange[1]) as tf.Tensor1D : undefined;
      const guidance: GuidanceSpec = w ? { weight: w } : { scale: o.guidanceScale! };
      const teacherOut = guidedPredict(teacher, z, t, labels, { guidance, ...(o.guidanceRescale ? { rescale: o.guidanceRescale } : {}) });
      // The teacher's ops do not involve the student's variables, so no gradient flows into the target.
      const target = convertPrediction(schedule, teacherOut, z, t, teacher.predictionType, 'v_prediction') as tf.Tensor4D;
      return { x: x.clone(), eps, t, z, labels: labels.clone(), target, ...(w ? { w } : {}) };
    }),
    loss: (item, parts) => tf.tidy(() => {
      const studentOut = student.predict(item.z, item.t, item.labels, item.w);
      const vStudent = convertPrediction(schedule, studentOut, item.z, item.t, student.predictionType, 'v_prediction');
      let total = tf.mul(o.distillWeight, weightedMse(vStudent, item.target)) as tf.Scalar;
      parts?.record('distillLoss', total);
      if (o.targetWeight > 0) {
        const target = tf.mul(o.targetWeight, denoisingLoss(schedule, studentOut, student.predictionType, item.x, item.eps, item.z, item.t, o.loss)) as tf.Scalar;
        parts?.record('targetLoss', target);
        total = tf.add(total, target) as tf.Scalar;
      }
      return total;
    }),
  };
}
