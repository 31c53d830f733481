// The backend-agnostic kernel conformance suite (test/kernels/conformance.ts: float64 references,
// rtol 1e-5, no leaked tensors) on the libtorch backend, when its addon is built here.
import * as tf from '@tensorflow/tfjs-core';
import { libtorchUnavailableReason, registerLibtorchBackend } from '../../../src/backends/libtorch';
import { runKernelConformance } from '../../kernels/conformance';

if (libtorchUnavailableReason() === undefined) {
  let previous = 'cpu';
  runKernelConformance('libtorch', {
    init: async () => {
      previous = tf.getBackend();
      registerLibtorchBackend(2);
      await tf.setBackend('libtorch');
    },
    teardown: async () => {
      await tf.setBackend(previous);
    },
  });
}
