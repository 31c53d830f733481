// The kernel conformance suite (test/kernels/conformance.ts) on the multi-threaded wasm backend with
// Distillery's kernels; the CPU backend is restored afterwards.
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, shutdownBackend } from '../../../src/backends';
import { runKernelConformance } from '../../kernels/conformance';

runKernelConformance('wasm', {
  init: () => selectBackend('wasm', { threads: 2 }),
  teardown: async () => {
    await shutdownBackend();
    await tf.setBackend('cpu');
  },
});
