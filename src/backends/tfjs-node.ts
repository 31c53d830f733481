/**
 * @tensorflow/tfjs-node-gpu and @tensorflow/tfjs-node: libtensorflow bindings. Both are optional: their
 * install downloads libtensorflow, which fails on machines without that access, and npm then skips them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendProvider } from './types';

function tryRequire(pkg: string): boolean {
  try {
    require(pkg);
    return true;
  } catch {
    return false;
  }
}

function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

export const tensorflowGpuProvider: BackendProvider = {
  name: 'tensorflow-gpu',
  async available() {
    return isInstalled('@tensorflow/tfjs-node-gpu') && tryRequire('@tensorflow/tfjs-node-gpu');
  },
  async init(options) {
    await tf.setBackend('tensorflow');
    return { name: 'tensorflow-gpu', tfBackend: 'tensorflow', threads: options.threads ?? 1,
      description: 'tensorflow-gpu (@tensorflow/tfjs-node-gpu, libtensorflow with CUDA)' };
  },
};

export const tensorflowProvider: BackendProvider = {
  name: 'tensorflow',
  async available() {
    return isInstalled('@tensorflow/tfjs-node') && tryRequire('@tensorflow/tfjs-node');
  },
  async init(options) {
    await tf.setBackend('tensorflow');
    return { name: 'tensorflow', tfBackend: 'tensorflow', threads: options.threads ?? 1,
      description: 'tensorflow (@tensorflow/tfjs-node, libtensorflow CPU)' };
  },
};
