/**
 * The fused GroupNorm op moved to src/kernels/group-norm.ts (below the backends, so that models call it
 * without importing a backend). Re-exported here for the callers that import it from the wasm backend.
 */
export { groupNorm, groupNormComposite, type GroupNormOptions } from '../../kernels/group-norm';
