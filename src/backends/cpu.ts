import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendProvider } from './types';

/**
 * TF.js's CPU backend prints "Hi, looks like you are running TensorFlow.js in Node.js … install our node
 * backend" when its first tensor is written under Node. Distillery chooses the backend itself (tfjs-node
 * first wherever it is installed; the pure-JS CPU backend is a deliberate last resort or the tests'
 * reference), so the advice is noise in every run's output. The greeting hangs on the instance's own
 * `firstUse` flag: clearing it on the registered instance (created here when it does not exist yet)
 * silences exactly that message. Neither IS_NODE (TF.js picks Node's platform, fetch and timers by it) nor
 * PROD (which mutes every TF.js warning) is touched.
 */
export function silenceCpuBackendGreeting(): void {
  const cpu = tf.findBackend('cpu');
  if (cpu instanceof MathBackendCPU) (cpu as unknown as { firstUse: boolean }).firstUse = false;
}

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
