/**
 * WebGPU through Dawn (issue 8). Not wired yet: reports itself unavailable so `auto` never picks it.
 */
import type { BackendProvider } from './types';
import { BackendError } from '../errors';

export const webgpuProvider: BackendProvider = {
  name: 'webgpu',
  async available() {
    return false;
  },
  async init() {
    throw new BackendError('the webgpu backend is not wired in this checkout');
  },
};
