// The backend-agnostic kernel conformance suite (test/kernels/conformance.ts) on the libtorch backend
// with bf16 autocast: convolutions and matmuls against the bound bf16's 8-bit significand allows
// (bf16Bound, derived there), everything else at its float32 tolerance. Needs the addon and a CPU with
// native bf16 (avx512_bf16 / amx_bf16); precision.test.ts checks the refusal where there is none.
import * as tf from '@tensorflow/tfjs-core';
import { libtorchUnavailableReason, registerLibtorchBackend, type LibtorchBackend } from '../../../src/backends/libtorch';
import { nativeBf16Flags } from '../../../src/backends/precision';
import { runKernelConformance } from '../../kernels/conformance';

if (libtorchUnavailableReason() === undefined && nativeBf16Flags().length > 0) {
  let previous = 'cpu';
  registerLibtorchBackend(2);
  // The addon's bf16 convolutions keep oneDNN's float32 results when it was built with oneDNN's headers.
  const convPath = (tf.findBackend('libtorch') as LibtorchBackend).bf16Convolutions().path;
  runKernelConformance('libtorch', {
    precision: 'bf16',
    // DISTILLERY_BF16_FILTER_GRAD=0 keeps the addon's filter gradients in float32 (docs/backends.md).
    bf16FilterGradients: process.env.DISTILLERY_BF16_FILTER_GRAD !== '0',
    bf16ConvResults: convPath === 'onednn' ? 'float32' : 'bf16',
    init: async () => {
      previous = tf.getBackend();
      registerLibtorchBackend(2);
      await tf.setBackend('libtorch');
      (tf.backend() as LibtorchBackend).setPrecision('bf16');
    },
    teardown: async () => {
      (tf.backend() as LibtorchBackend).setPrecision('fp32');
      await tf.setBackend(previous);
    },
  });
}
