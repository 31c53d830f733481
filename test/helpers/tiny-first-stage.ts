/**
 * Stand-ins for the first stage and the classifier in node tests (the real ones live in src/models):
 * a 2× average-pool autoencoder with 1×1 channel mixing, and a one-hidden-layer classifier.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainableAutoencoder } from '../../nodes/autoencoder-training/loss';
import type { TrainableClassifier } from '../../nodes/classifier-training/loss';

let id = 0;
function variable(shape: number[], seed: number, scale = 0.3): tf.Variable {
  return tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, scale, 'float32', seed), true, `tiny-${id++}`));
}

abstract class Base {
  readonly variables = new Map<string, tf.Variable>();
  getWeights(): Record<string, tf.Tensor> {
    return Object.fromEntries([...this.variables].map(([k, v]) => [k, v.clone()]));
  }
  loadWeights(weights: Record<string, tf.Tensor>): void {
    for (const [k, v] of this.variables) v.assign(weights[k]);
  }
  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
  }
}

/** [B, H, W, 1] images ↔ [B, H/2, W/2, 2] latents. */
export class TinyAutoencoder extends Base implements TrainableAutoencoder {
  readonly config = { kind: 'tiny-autoencoder' };
  constructor(seed = 1) {
    super();
    this.variables.set('enc', variable([1, 2], seed));
    this.variables.set('dec', variable([2, 1], seed + 1));
  }
  encode(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const pooled = tf.avgPool(x, 2, 2, 'valid') as tf.Tensor4D;
      const [b, h, w] = pooled.shape;
      return tf.reshape(tf.matMul(tf.reshape(pooled, [-1, 1]), this.variables.get('enc')!), [b, h, w, 2]) as tf.Tensor4D;
    });
  }
  decode(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w] = z.shape;
      const y = tf.reshape(tf.matMul(tf.reshape(z, [-1, 2]), this.variables.get('dec')!), [b, h, w, 1]) as tf.Tensor4D;
      return tf.image.resizeNearestNeighbor(y, [2 * h, 2 * w]) as tf.Tensor4D;
    });
  }
  clone(): TinyAutoencoder {
    const m = new TinyAutoencoder();
    for (const [k, v] of this.variables) m.variables.get(k)!.assign(v);
    return m;
  }
}

/** Flattened [B, H, W, C] → 8 hidden ReLU features → `classes` logits. */
export class TinyClassifier extends Base implements TrainableClassifier {
  readonly config: { kind: string; inputs: number; classes: number };
  constructor(inputs: number, classes: number, seed = 1) {
    super();
    this.config = { kind: 'tiny-classifier', inputs, classes };
    this.variables.set('w1', variable([inputs, 8], seed));
    this.variables.set('w2', variable([8, classes], seed + 1));
  }
  features(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.relu(tf.matMul(tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D, this.variables.get('w1')!)) as tf.Tensor2D);
  }
  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.matMul(this.features(x), this.variables.get('w2')!) as tf.Tensor2D);
  }
  clone(): TinyClassifier {
    const m = new TinyClassifier(this.config.inputs, this.config.classes);
    for (const [k, v] of this.variables) m.variables.get(k)!.assign(v);
    return m;
  }
}
