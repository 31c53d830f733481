// The backend-agnostic kernel conformance suite (test/kernels/conformance.ts: float64 references,
// rtol 1e-5, no leaked tensors; every read asynchronous) on WebGPU, on whatever adapter Dawn offers
// (`npm run test:webgpu` runs it on Mesa's llvmpipe, see docs/gpu.md).
import { runKernelConformance } from '../../kernels/conformance';
import { leaveWebGpu, useWebGpu } from './compare';

runKernelConformance('webgpu', { init: useWebGpu, teardown: leaveWebGpu });
