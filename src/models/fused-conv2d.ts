/**
 * Convolution plus bias as one FusedConv2D kernel, with a gradient that computes only what the
 * backward pass asks for.
 *
 * tf.fused.conv2d wraps the kernel in a custom gradient that always computes all three gradients
 * (input, filter, bias) and saves the output as well as the inputs. Through the engine's per-input
 * gradient functions instead, the input gradient of a network's first convolution (whose input is
 * data, not a function of the weights) is never computed, and one saved tensor per layer less is kept.
 * On libtorch that first input gradient cost 1.1 ms per reference-UNet step (a 32 → 1 channel
 * transposed convolution, which oneDNN runs slowly).
 *
 * Kernel: FusedConv2D {x, filter, bias} with activation 'linear', NHWC, dilation 1 (every backend
 * registers it). Gradients: Conv2DBackpropInput, Conv2DBackpropFilter and Σ dy over batch and space.
 */
import * as tf from '@tensorflow/tfjs-core';

const KERNEL = 'FusedConv2D';

interface ConvAttrs {
  strides: [number, number] | number;
  pad: number | 'same' | 'valid';
  dataFormat: 'NHWC';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation: 'linear';
}

let registered = false;

/** Registers the gradient once per process (tfjs has none for FusedConv2D: its op uses a custom gradient). */
function registerGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: KERNEL,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const a = attrs as unknown as ConvAttrs;
      const g = dy as tf.Tensor4D;
      const common = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat, dimRoundingMode: a.dimRoundingMode };
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: g, filter },
          { ...common, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
        filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: g },
          { ...common, filterShape: filter.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
        bias: () => tf.sum(g, [0, 1, 2]),
      };
    },
  });
}

/** conv2d(x, filter) + bias, NHWC, stride `stride`, zero padding `pad` on every side (or TF's rule). */
export function conv2dWithBias(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, stride: number,
  pad: number | 'same' | 'valid'): tf.Tensor4D {
  registerGradient();
  const attrs: ConvAttrs = { strides: [stride, stride], pad, dataFormat: 'NHWC', dilations: [1, 1], activation: 'linear' };
  return tf.engine().runKernel(KERNEL, { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
