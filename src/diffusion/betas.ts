/**
 * Beta schedules and alpha-bar (spec section 1), computed with the same float32 roundings as diffusers'
 * DDIMScheduler so that the numbers agree with it to the last float32 digit or so:
 *
 * - `linear` / `scaled_linear`: diffusers builds the betas with a float32 `torch.linspace`, whose CPU
 *   kernel computes `start + step·i` for the first half and `end − step·(T−1−i)` for the second half,
 *   every operation in float32 (step = (end − start)/(T − 1) in float32). `scaled_linear` squares the
 *   float32 values in float32.
 * - `squaredcos_cap_v2`: the betas are computed in float64 (Python floats) and then stored as float32.
 * - alphas = 1 − beta in float32; alpha-bar = torch.cumprod of the float32 alphas, whose CPU kernel
 *   accumulates the running product in float64 and rounds each output to float32.
 *
 * Every array here holds those float32 values as JavaScript numbers. Math.fround after an exact or
 * double-precision operation gives the correctly rounded float32 result for +, −, ×, ÷ (float64 has more
 * than twice float32's precision), so the emulation is exact up to how the C++ compiler contracted
 * multiply-adds in torch's build (at most one float32 ulp in a beta, ~1e-9 in alpha-bar).
 */
import type { BetaScheduleName } from './config';
import { ScheduleError } from '../errors';

const f32 = Math.fround;

/** torch.linspace(start, end, n, dtype=float32) on the CPU, value for value. */
export function linspaceFloat32(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const s = f32(start);
  const e = f32(end);
  if (n === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (n - 1));
  const halfway = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    out[i] = i < halfway ? f32(s + f32(step * i)) : f32(e - f32(step * (n - 1 - i)));
  }
  return out;
}

/** alpha-bar of the cosine schedule at fractional time u ∈ [0, 1] (unnormalised: the ratio is what counts). */
function cosineAlphaBar(u: number): number {
  const c = Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2));
  return c * c;
}

/** The maximum beta of `squaredcos_cap_v2`. */
export const COSINE_MAX_BETA = 0.999;

/** Betas for a schedule, as float32 values (see the file comment). */
export function computeBetas(schedule: BetaScheduleName, numTrainTimesteps: number, betaStart: number, betaEnd: number): Float64Array {
  const T = numTrainTimesteps;
  switch (schedule) {
    case 'linear':
      return linspaceFloat32(betaStart, betaEnd, T);
    case 'scaled_linear': {
      const roots = linspaceFloat32(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
      return roots.map((r) => f32(r * r));
    }
    case 'squaredcos_cap_v2': {
      const betas = new Float64Array(T);
      for (let i = 0; i < T; i++) {
        const beta = 1 - cosineAlphaBar((i + 1) / T) / cosineAlphaBar(i / T);
        betas[i] = f32(Math.min(beta, COSINE_MAX_BETA));
      }
      return betas;
    }
    default:
      throw new ScheduleError(`unknown beta schedule ${JSON.stringify(schedule)}`);
  }
}

/** alphas = 1 − beta (float32) and alpha-bar (float64 running product, each value rounded to float32). */
export function alphasFromBetas(betas: Float64Array): { alphas: Float64Array; alphasCumprod: Float64Array } {
  const alphas = betas.map((b) => f32(1 - b));
  const alphasCumprod = new Float64Array(alphas.length);
  let running = 1;
  for (let i = 0; i < alphas.length; i++) {
    running *= alphas[i];
    alphasCumprod[i] = f32(running);
  }
  return { alphas, alphasCumprod };
}
