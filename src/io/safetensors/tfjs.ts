/** Conversion between decoded safetensors data and TF.js tensors. */
import * as tf from '@tensorflow/tfjs-core';
import type { SafetensorsTensor } from './header';

/** Converts decoded data to a tf.Tensor: floats → float32, I32/I64/U8 → int32, BOOL → bool. */
export function toTfTensor(t: SafetensorsTensor): tf.Tensor {
  switch (t.dtype) {
    case 'BOOL':
      return tf.tensor(t.data as Uint8Array, t.shape, 'bool');
    case 'U8':
      return tf.tensor(Int32Array.from(t.data as Uint8Array), t.shape, 'int32');
    case 'I32':
    case 'I64':
      return tf.tensor(t.data as Int32Array, t.shape, 'int32');
    default:
      return tf.tensor(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), t.shape, 'float32');
  }
}
