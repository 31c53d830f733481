import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendProvider } from './types';

/** The pure-JS CPU backend: always available, ~100× slower than WASM; a last resort. */
export const cpuProvider: BackendProvider = {
  name: 'cpu',
  async available() {
    return true;
  },
  async init() {
    await tf.setBackend('cpu');
    await tf.ready();
    return { name: 'cpu', tfBackend: 'cpu', threads: 1, description: 'cpu (pure JavaScript, 1 thread; slow: a last resort)' };
  },
};
