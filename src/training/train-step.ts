/**
 * One optimizer step from loss functions: gradients by tf.variableGrads (averaged over micro-batches
 * when several loss functions are given), global-norm clipping, AdamW update. No tensor outlives it.
 */
import * as tf from '@tensorflow/tfjs-core';
// tf.variableGrads needs the gradient functions of the ops; TF.js registers them on this import.
import '../util/tf-gradients';
import { TrainingError } from '../errors';
import type { AdamW } from './adamw';
import { GradientAccumulator, checkMaxNorm, clipToNorm, squaredGlobalNorm } from './grads';

/** A loss of the optimizer's variables: a scalar tensor (e.g. a mean over a micro-batch). */
export type LossFunction = () => tf.Scalar;

export interface TrainStepOptions {
  /** Clip the global gradient norm to this value (the seed uses 1.0); no clipping when absent. */
  maxGradNorm?: number;
  /** Learning rate for this step (e.g. from an LR schedule); default the optimizer's `lr`. */
  lr?: number;
  /**
   * Data-parallel training: replaces the (micro-batch averaged) gradients by their mean over all ranks,
   * before the norm and clipping. Takes ownership of its input (disposes it) and returns new tensors.
   */
  reduceGradients?: (grads: Map<string, tf.Tensor>) => Promise<Map<string, tf.Tensor>>;
}

export interface TrainStepResult {
  /** The loss (the mean over micro-batches when several are given). */
  loss: number;
  /** Global L2 norm of the (averaged) gradient before clipping. */
  gradNorm: number;
  /** Learning rate used. */
  lr: number;
  /** Data-parallel runs: ms this rank spent in the gradient all-reduce, waiting for the other ranks included. */
  allReduceMs?: number;
}

/**
 * Computes the loss and the gradients with respect to `optimizer.variables`, clips them, and makes one
 * optimizer step. With an array of loss functions (gradient accumulation) each is differentiated in
 * turn and the gradients are averaged — equal to the gradient of the whole batch's mean loss when the
 * micro-batches are equally sized. Variables no loss depends on get no update. A non-finite loss or
 * gradient norm throws TrainingError before the weights change.
 *
 * Asynchronous: the losses and the squared gradient norm are read back together in one `await
 * tensor.data()` before the update, so the step runs on backends that cannot read synchronously
 * (WebGPU under Node) and waits for the device once per step.
 */
export async function trainStep(
  optimizer: AdamW, loss: LossFunction | readonly LossFunction[], options: TrainStepOptions = {},
): Promise<TrainStepResult> {
  const lossFns = typeof loss === 'function' ? [loss] : loss;
  if (lossFns.length === 0) throw new TrainingError('trainStep needs at least one loss function');
  if (options.maxGradNorm !== undefined) checkMaxNorm(options.maxGradNorm);
  const lr = options.lr ?? optimizer.lr;
  const byTfName = new Map<string, string>();
  const varList: tf.Variable[] = [];
  for (const [name, v] of optimizer.variables) {
    if (!v.trainable) continue;
    byTfName.set(v.name, name);
    varList.push(v);
  }
  if (varList.length === 0) throw new TrainingError('the optimizer has no trainable variables');
  const acc = new GradientAccumulator();
  const lossTensors: tf.Scalar[] = [];
  let mean: Map<string, tf.Tensor> | undefined;
  try {
    if (lossFns.length === 1) {
      // One loss: its gradients are the step's (no accumulator copies).
      const { value, grads } = tf.variableGrads(lossFns[0], varList);
      lossTensors.push(value);
      mean = new Map();
      for (const [tfName, g] of Object.entries(grads)) {
        if (!g) continue;
        mean.set(byTfName.get(tfName)!, g.dtype === 'float32' ? g : tf.cast(g, 'float32'));
        if (g.dtype !== 'float32') g.dispose();
      }
    } else {
      for (const f of lossFns) {
        const { value, grads } = tf.variableGrads(f, varList);
        lossTensors.push(value);
        const named = new Map<string, tf.Tensor>();
        for (const [tfName, g] of Object.entries(grads)) if (g) named.set(byTfName.get(tfName)!, g);
        try {
          acc.add(named);
        } finally {
          tf.dispose([...named.values()]);
        }
      }
      mean = acc.mean();
    }
    acc.dispose();
    if (options.reduceGradients) {
      const local = mean;
      mean = undefined;
      mean = await options.reduceGradients(local);
    }
    // One read for every loss and the squared norm: [loss_1 … loss_k, Σ g²].
    const packed = tf.tidy(() => tf.stack([...lossTensors, squaredGlobalNorm(mean!)]));
    tf.dispose(lossTensors);
    lossTensors.length = 0;
    let values: Float32Array;
    try {
      values = await packed.data() as Float32Array;
    } finally {
      packed.dispose();
    }
    let lossSum = 0;
    for (let i = 0; i < lossFns.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new TrainingError(`non-finite loss ${values[i]} at optimizer step ${optimizer.stepCount + 1}`);
      }
      lossSum += values[i];
    }
    const gradNorm = Math.sqrt(values[lossFns.length]);
    if (!Number.isFinite(gradNorm)) {
      throw new TrainingError(`non-finite gradient norm ${gradNorm} at optimizer step ${optimizer.stepCount + 1}`);
    }
    let final = mean;
    if (options.maxGradNorm !== undefined) {
      final = clipToNorm(mean, gradNorm, options.maxGradNorm).grads;
      tf.dispose([...mean.values()]);
      mean = final;
    }
    optimizer.step(final, lr);
    return { loss: lossSum / lossFns.length, gradNorm, lr };
  } finally {
    tf.dispose(lossTensors);
    if (mean) tf.dispose([...mean.values()]);
    acc.dispose();
  }
}
