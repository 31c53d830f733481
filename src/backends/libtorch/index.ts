/**
 * The native libtorch backend provider (issue 5). Until the addon is built, it reports itself unavailable
 * so that selection falls through to WASM.
 */
import type { BackendProvider } from '../types';
import { BackendError } from '../../errors';

export const libtorchProvider: BackendProvider = {
  name: 'libtorch',
  async available() {
    return false;
  },
  async init() {
    throw new BackendError('the libtorch backend is not built in this checkout');
  },
};
