// Mocha root setup: pure-JS CPU backend unless DISTILLERY_TEST_BACKEND names another one.
// Numeric tests state their own tolerances; they must pass on every backend.
import * as tf from '@tensorflow/tfjs-core';
import { silenceCpuBackendGreeting } from '../src/backends/cpu';

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    silenceCpuBackendGreeting();
    const wanted = process.env.DISTILLERY_TEST_BACKEND ?? 'cpu';
    if (wanted === 'cpu') await tf.setBackend('cpu');
  },
};
