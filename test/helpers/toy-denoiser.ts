/**
 * A one-parameter v-prediction denoiser for hand-checkable stage tests: v̂ = c·z for every input, so
 * x̂ = (a − s·c)·z and ε̂ = (s + a·c)·z, and every DDIM step multiplies z by a known number.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from '../../src/models/types';
import type { TrainableDenoiser } from '../../src/stage-engine/types';

let counter = 0;

export class ScalarDenoiser implements TrainableDenoiser {
  readonly predictionType: PredictionType;
  readonly numClasses = 3;
  readonly nullClass = 2;
  readonly takesGuidanceWeight = false;
  readonly variables: Map<string, tf.Variable>;
  readonly config: { c: number; prediction_type: PredictionType };

  constructor(c: number, predictionType: PredictionType = 'v_prediction') {
    this.predictionType = predictionType;
    this.config = { c, prediction_type: predictionType };
    this.variables = new Map([['c', tf.tidy(() => tf.variable(tf.scalar(c), true, `toy-c-${counter++}`))]]);
  }

  get c(): number {
    return this.variables.get('c')!.dataSync()[0];
  }

  predict(z: tf.Tensor4D, _t: tf.Tensor1D, _labels: tf.Tensor1D): tf.Tensor4D {
    return tf.tidy(() => tf.mul(this.variables.get('c')!, z) as tf.Tensor4D);
  }

  getWeights(): Record<string, tf.Tensor> {
    return { c: this.variables.get('c')!.clone() };
  }

  loadWeights(weights: Record<string, tf.Tensor>): void {
    tf.tidy(() => this.variables.get('c')!.assign(tf.reshape(weights.c, []) as tf.Scalar));
  }

  clone(): ScalarDenoiser {
    const m = new ScalarDenoiser(0, this.predictionType);
    m.variables.get('c')!.assign(this.variables.get('c')!);
    return m;
  }

  cloneWith(overrides: { prediction_type?: PredictionType }): ScalarDenoiser {
    const m = new ScalarDenoiser(0, overrides.prediction_type ?? this.predictionType);
    m.variables.get('c')!.assign(this.variables.get('c')!);
    return m;
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
  }
}
