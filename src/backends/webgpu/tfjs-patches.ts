/** Fixes to TF.js 4.22's WebGPU kernels, applied once when the backend is first created. */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../errors';
import { WEBGPU_TF_BACKEND } from './dawn';

let padPatched = false;

/**
 * TF.js 4.22's WebGPU PadV2 shader is invalid WGSL for rank 5 and 6 (it indexes its `vec5` struct like
 * a vector), and the gradient of a rank-5 slice is such a pad. Above rank 4 the pad is done one padded
 * axis at a time on a [before, axis, after] view, which the rank-3 shader handles.
 */
export function patchHighRankPad(): void {
  if (padPatched) return;
  const original = tf.getKernel('PadV2', WEBGPU_TF_BACKEND);
  const reshape = tf.getKernel('Reshape', WEBGPU_TF_BACKEND);
  if (!original || !reshape) throw new BackendError('webgpu: @tensorflow/tfjs-backend-webgpu registered no PadV2/Reshape kernel');
  const padFn = original.kernelFunc;
  const reshapeFn = reshape.kernelFunc;
  tf.unregisterKernel('PadV2', WEBGPU_TF_BACKEND);
  tf.registerKernel({
    kernelName: 'PadV2',
    backendName: WEBGPU_TF_BACKEND,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { paddings, constantValue } = args.attrs as { paddings: Array<[number, number]>; constantValue: number };
      if (x.shape.length <= 4) return padFn(args);
      const backend = args.backend as tf.KernelBackend;
      const run = (fn: tf.KernelFunc, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo =>
        fn({ inputs, backend, attrs }) as tf.TensorInfo;
      let current = x;
      let shape = x.shape.slice();
      paddings.forEach(([before, after], axis) => {
        if (before === 0 && after === 0) return;
        const outer = shape.slice(0, axis).reduce((p, q) => p * q, 1);
        const inner = shape.slice(axis + 1).reduce((p, q) => p * q, 1);
        const view = run(reshapeFn, { x: current }, { shape: [outer, shape[axis], inner] });
        const padded = run(padFn, { x: view }, { paddings: [[0, 0], [before, after], [0, 0]], constantValue });
        backend.disposeData(view.dataId);
        if (current !== x) backend.disposeData(current.dataId);
        shape = shape.slice();
        shape[axis] += before + after;
        current = padded;
      });
      const out = run(reshapeFn, { x: current }, { shape });
      if (current !== x) backend.disposeData(current.dataId);
      return out;
    },
  });
  padPatched = true;
}

let segmentSumPatched = false;

/**
 * TF.js 4.22's WebGPU UnsortedSegmentSum adds a row whose id is ≥ numSegments to segment
 * `id % numSegments`; every other backend (and TF) drops it, as it drops negative ids. Ids at or above
 * numSegments are mapped to −1 first, so the kernel drops them too (the shared kernel conformance suite
 * checks this case).
 */
export function patchSegmentSumRange(): void {
  if (segmentSumPatched) return;
  const kernel = (name: string): tf.KernelFunc => {
    const k = tf.getKernel(name, WEBGPU_TF_BACKEND);
    if (!k) throw new BackendError(`webgpu: @tensorflow/tfjs-backend-webgpu registered no ${name} kernel`);
    return k.kernelFunc;
  };
  const segmentSum = kernel('UnsortedSegmentSum');
  const fill = kernel('Fill');
  const less = kernel('Less');
  const select = kernel('Select');
  tf.unregisterKernel('UnsortedSegmentSum', WEBGPU_TF_BACKEND);
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: WEBGPU_TF_BACKEND,
    kernelFunc: (args) => {
      const backend = args.backend as tf.KernelBackend;
      const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = args.attrs as { numSegments: number };
      const run = (fn: tf.KernelFunc, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo =>
        fn({ inputs, backend, attrs }) as tf.TensorInfo;
      const shape = segmentIds.shape;
      const limit = run(fill, {}, { shape, value: numSegments, dtype: segmentIds.dtype });
      const dropped = run(fill, {}, { shape, value: -1, dtype: segmentIds.dtype });
      const inRange = run(less, { a: segmentIds, b: limit });
      const ids = run(select, { condition: inRange, t: segmentIds, e: dropped });
      try {
        return segmentSum({ inputs: { x, segmentIds: ids }, backend, attrs: args.attrs });
      } finally {
        for (const t of [limit, dropped, inRange, ids]) backend.disposeData(t.dataId);
      }
    },
  });
  segmentSumPatched = true;
}

