/**
 * Run-level compute precision (issue 17). `fp32` (the default) computes everything in float32. `bf16`
 * is autocast as `torch.autocast('cpu', dtype=torch.bfloat16)` does it: convolutions (forward and both
 * gradients) and matmuls / batched matmuls (attention) compute in bfloat16 with float32 accumulation and
 * float32 outputs; weights, gradients, optimiser and EMA state, normalisation, softmax and losses stay
 * float32. Only the libtorch backend has it (the casting happens inside its ATen kernels, so TF.js sees
 * float32 tensors only), and only on a CPU with native bf16 arithmetic: emulated bf16 would be slower
 * than float32, so `bf16` there is an error rather than a silent slowdown.
 */
import * as fs from 'node:fs';
import { PrecisionError } from '../errors';

export type Precision = 'fp32' | 'bf16';
export const PRECISION_CHOICES: readonly Precision[] = ['fp32', 'bf16'];

/** The /proc/cpuinfo flags that mean native bf16 arithmetic (AVX512-BF16: Zen 4, Cooper Lake+; AMX: Sapphire Rapids+). */
export const NATIVE_BF16_FLAGS: readonly string[] = ['avx512_bf16', 'amx_bf16'];

export function parsePrecision(value: string, where: string): Precision {
  if ((PRECISION_CHOICES as readonly string[]).includes(value)) return value as Precision;
  throw new PrecisionError(`${where}: precision must be one of ${PRECISION_CHOICES.join(', ')}, found "${value}"`);
}

/** The native bf16 flags this CPU has, read from `cpuinfo` (default: /proc/cpuinfo; empty when unreadable). */
export function nativeBf16Flags(cpuinfo?: string): string[] {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return [];
    }
  }
  const found = new Set<string>();
  for (const line of text.split('\n')) {
    if (!/^flags\s*:/.test(line)) continue;
    for (const f of line.slice(line.indexOf(':') + 1).trim().split(/\s+/)) if (NATIVE_BF16_FLAGS.includes(f)) found.add(f);
  }
  return NATIVE_BF16_FLAGS.filter((f) => found.has(f));
}

/** Throws a PrecisionError unless the CPU has native bf16 (a flag from NATIVE_BF16_FLAGS). */
export function checkNativeBf16(cpuinfo?: string): string[] {
  const flags = nativeBf16Flags(cpuinfo);
  if (flags.length === 0) {
    throw new PrecisionError(`precision bf16 needs a CPU with native bf16 arithmetic (an ${NATIVE_BF16_FLAGS.join(' or ')} flag in /proc/cpuinfo); ` +
      'this CPU has neither, and emulated bf16 would be slower than float32: use --precision fp32');
  }
  return flags;
}
