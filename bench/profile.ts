/**
 * Per-kernel profile and FLOP counting from TensorFlow.js's own profiler (tf.profile): every kernel the
 * engine runs (forward and backward, optimizer included) with its synchronous wall time on the WASM
 * and CPU backends. Kernels that Distillery's WASM kernels call internally are counted in the caller.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelRecord {
  name: string;
  inputShapes: number[][];
  outputShapes: number[][];
  ms: number;
  /** The part of `ms` spent inside a native backend (libtorch reports it), else undefined. */
  nativeMs?: number;
}

export interface KernelSummary {
  name: string;
  calls: number;
  ms: number;
  nativeMs?: number;
  gflop: number;
}

/** Runs `f` under tf.profile (awaiting it when it returns a promise) and returns every kernel it ran. */
export async function profileKernels(f: () => unknown): Promise<KernelRecord[]> {
  const info = await tf.profile(async () => {
    await f();
    return [];
  });
  return info.kernels.map((k) => ({
    name: k.name,
    inputShapes: k.inputShapes as number[][],
    outputShapes: k.outputShapes as number[][],
    ms: typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0,
    nativeMs: nativeMsOf(k.extraInfo),
  }));
}

/** The libtorch backend's timing extra info is `native <ms>`. */
function nativeMsOf(extraInfo: unknown): number | undefined {
  if (typeof extraInfo !== 'string' || !extraInfo.startsWith('native ')) return undefined;
  const ms = Number(extraInfo.slice(7));
  return Number.isFinite(ms) ? ms : undefined;
}

const size = (s: readonly number[] | undefined): number => (s ? s.reduce((a, b) => a * b, 1) : 0);

/**
 * Multiply-add FLOPs (2 per multiply-add) of convolution and matrix-product kernels, from their shapes:
 *   Conv2D / FusedConv2D: 2 · |y| · KH · KW · Ci (y the output, filter [KH, KW, Ci, Co]);
 *   Conv2DBackpropInput: 2 · |dy| · KH · KW · Ci; Conv2DBackpropFilter: 2 · |dy| · KH · KW · Ci;
 *   BatchMatMul / _FusedMatMul: 2 · |C| · K with K = |A| / (|C| / N).
 * Everything else (element-wise, normalisation, reductions) counts 0, as in the spec's model count.
 */
export function kernelFlops(k: KernelRecord): number {
  switch (k.name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const w = k.inputShapes[1];
      return 2 * size(k.outputShapes[0]) * w[0] * w[1] * w[2];
    }
    case 'Conv2DBackpropInput': {
      const [dy, w] = k.inputShapes;
      return 2 * size(dy) * w[0] * w[1] * w[2];
    }
    case 'Conv2DBackpropFilter': {
      const [x, dy] = k.inputShapes;
      const fshape = k.outputShapes[0];
      return 2 * size(dy) * fshape[0] * fshape[1] * (x ? x[3] : 0);
    }
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const a = k.inputShapes[0];
      const c = k.outputShapes[0];
      const n = c[c.length - 1];
      const rows = size(c) / n;
      return 2 * size(c) * (size(a) / rows);
    }
    default:
      return 0;
  }
}

/**
 * Entries tf.profile records around other kernels: custom-gradient ops ('forward', fused ops named
 * `<op>__op`). Their time is already counted in the kernels they run, so summaries leave them out.
 */
export function isWrapper(name: string): boolean {
  return name === 'forward' || name === 'unnamed scope' || name.endsWith('__op');
}

/** Per-step totals per kernel; with `byShape`, per kernel and input shapes (`Conv2DBackpropInput 32x32x32x64,3x3x64x64`). */
export function summarise(records: KernelRecord[], steps: number, byShape = false): KernelSummary[] {
  const by = new Map<string, KernelSummary>();
  for (const r of records) {
    if (isWrapper(r.name)) continue;
    const key = byShape ? `${r.name} ${r.inputShapes.map((s) => (s ?? []).join('x')).join(',')}` : r.name;
    const s = by.get(key) ?? { name: key, calls: 0, ms: 0, gflop: 0 };
    s.calls += 1;
    s.ms += r.ms;
    if (r.nativeMs !== undefined) s.nativeMs = (s.nativeMs ?? 0) + r.nativeMs;
    s.gflop += kernelFlops(r) / 1e9;
    by.set(key, s);
  }
  return [...by.values()]
    .map((s) => ({ name: s.name, calls: s.calls / steps, ms: s.ms / steps, nativeMs: s.nativeMs === undefined ? undefined : s.nativeMs / steps, gflop: s.gflop / steps }))
    .sort((a, b) => b.ms - a.ms);
}

export function formatProfile(summary: KernelSummary[], stepMs: number): string {
  const kernelMs = summary.reduce((a, s) => a + s.ms, 0);
  const hasNative = summary.some((s) => s.nativeMs !== undefined);
  const nativeMs = summary.reduce((a, s) => a + (s.nativeMs ?? 0), 0);
  const width = Math.min(72, Math.max(28, ...summary.map((s) => s.name.length)));
  const lines = [
    `per training step: ${stepMs.toFixed(1)} ms wall, ${kernelMs.toFixed(1)} ms in kernels` +
      (hasNative ? ` (${nativeMs.toFixed(1)} ms of them inside the native addon)` : '') +
      `, ${(stepMs - kernelMs).toFixed(1)} ms outside kernels (JS, tape, allocation)`,
    `${'kernel'.padEnd(width)} ${'calls'.padStart(7)} ${'ms'.padStart(9)}${hasNative ? ' native ms'.padStart(10) : ''} ${'%step'.padStart(6)} ${'GFLOP'.padStart(7)} ${'GFLOP/s'.padStart(8)}`,
  ];
  for (const s of summary) {
    const rate = s.gflop > 0 && s.ms > 0 ? (s.gflop / (s.ms / 1000)).toFixed(1) : '';
    const native = hasNative ? (s.nativeMs === undefined ? '' : s.nativeMs.toFixed(2)).padStart(10) : '';
    lines.push(`${s.name.slice(0, width).padEnd(width)} ${s.calls.toFixed(0).padStart(7)} ${s.ms.toFixed(2).padStart(9)}${native} ` +
      `${((100 * s.ms) / stepMs).toFixed(1).padStart(6)} ${s.gflop > 0 ? s.gflop.toFixed(3).padStart(7) : ''.padStart(7)} ${rate.padStart(8)}`);
  }
  return lines.join('\n');
}
