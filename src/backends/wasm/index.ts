/**
 * The WASM backend provider. Placeholder-free minimal version: the stock single-threaded tfjs WASM
 * backend. The fast multi-threaded path with complete training kernels replaces this module (issue 4).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendProvider } from '../types';

export const wasmProvider: BackendProvider = {
  name: 'wasm',
  async available() {
    return true;
  },
  async init() {
    await tf.setBackend('wasm');
    await tf.ready();
    return { name: 'wasm', tfBackend: 'wasm', threads: 1, description: 'wasm (stock tfjs build, 1 thread)' };
  },
};
