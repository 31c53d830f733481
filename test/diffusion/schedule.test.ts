/**
 * Noise schedules against (1) hand calculations, (2) the spec's section-6 checks, (3) an independent
 * recomputation in this file of what diffusers' DDIMScheduler computes (float32 torch.linspace, float32
 * 1 − beta, cumprod accumulated in float64 and stored as float32 — see src/diffusion/betas.ts), and
 * (4) a plain float64 evaluation of the spec's formulas.
 */
import { strict as assert } from 'node:assert';
import { NoiseSchedule } from '../../src/diffusion';

/** float32 rounding through a Float32Array cell (a different mechanism from the library's Math.fround). */
const cell = new Float32Array(1);
function f32(x: number): number {
  cell[0] = x;
  return cell[0];
}

/** diffusers' alpha-bar, recomputed independently: torch.linspace(float32) as start + step·i / end − step·(n−1−i). */
function diffusersAlphasCumprod(kind: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2', T: number, b0: number, b1: number): number[] {
  const lin = (s: number, e: number): number[] => {
    const S = f32(s);
    const E = f32(e);
    const step = f32(f32(E - S) / (T - 1));
    return Array.from({ length: T }, (_, i) => (i < T >> 1 ? f32(S + f32(step * i)) : f32(E - f32(step * (T - 1 - i)))));
  };
  let betas: number[];
  if (kind === 'linear') betas = lin(b0, b1);
  else if (kind === 'scaled_linear') betas = lin(Math.sqrt(b0), Math.sqrt(b1)).map((r) => f32(r * r));
  else {
    const ab = (u: number) => Math.cos(((u + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
    betas = Array.from({ length: T }, (_, i) => f32(Math.min(1 - ab((i + 1) / T) / ab(i / T), 0.999)));
  }
  const out: number[] = [];
  let acc = 1;
  for (const b of betas) {
    acc *= f32(1 - b);
    out.push(f32(acc));
  }
  return out;
}

/** The spec's formulas in float64 throughout (no float32 anywhere). */
function float64AlphasCumprod(kind: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2', T: number, b0: number, b1: number): number[] {
  const out: number[] = [];
  let acc = 1;
  for (let i = 0; i < T; i++) {
    let beta: number;
    if (kind === 'linear') beta = b0 + ((b1 - b0) * i) / (T - 1);
    else if (kind === 'scaled_linear') beta = (Math.sqrt(b0) + ((Math.sqrt(b1) - Math.sqrt(b0)) * i) / (T - 1)) ** 2;
    else {
      const ab = (t: number) => Math.cos(((t / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2 / Math.cos((0.008 / 1.008) * (Math.PI / 2)) ** 2;
      beta = Math.min(1 - ab(i + 1) / ab(i), 0.999);
    }
    acc *= 1 - beta;
    out.push(acc);
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const CIN256 = { numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, setAlphaToOne: false, stepsOffset: 1, timestepSpacing: 'leading' } as const;
const CLASSIC_LINEAR = { numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 2e-2, setAlphaToOne: true, stepsOffset: 0 } as const;
const COSINE_TRAILING = { numTrainTimesteps: 1000, betaSchedule: 'squaredcos_cap_v2', timestepSpacing: 'trailing' } as const;

describe('diffusion/schedule: NoiseSchedule numbers', () => {
  const cases = [
    ['cin256 (scaled_linear 0.0015→0.0195)', CIN256, 'scaled_linear', 0.0015, 0.0195],
    ['classic linear 1e-4→2e-2', CLASSIC_LINEAR, 'linear', 1e-4, 2e-2],
    ['cosine (squaredcos_cap_v2)', COSINE_TRAILING, 'squaredcos_cap_v2', 0, 0],
  ] as const;

  for (const [name, config, kind, b0, b1] of cases) {
    it(`${name}: alpha-bar equals the independent diffusers recomputation (tolerance 1e-9) and float64 formulas (1e-6)`, () => {
      const s = NoiseSchedule.fromConfig(config);
      // Same float32 roundings by a different mechanism: only FP-order noise is allowed.
      assert.ok(maxAbsDiff(s.alphasCumprod, diffusersAlphasCumprod(kind, 1000, b0, b1)) <= 1e-9);
      // The float32 roundings move alpha-bar by at most ~3.3e-7 from exact float64 arithmetic
      // (measured by this assertion's bound); the diffusers tolerance of the issue is 1e-6.
      assert.ok(maxAbsDiff(s.alphasCumprod, float64AlphasCumprod(kind, 1000, b0, b1)) < 5e-7);
      // Derived arrays follow their definitions.
      for (const t of [0, 1, 499, 999]) {
        const ab = s.alphasCumprod[t];
        assert.ok(Math.abs(s.sqrtAlphasCumprod[t] - Math.sqrt(ab)) < 1e-15);
        assert.ok(Math.abs(s.sqrtOneMinusAlphasCumprod[t] - Math.sqrt(1 - ab)) < 1e-15);
        assert.ok(Math.abs(s.snr[t] / (ab / (1 - ab)) - 1) < 1e-12);
        assert.ok(Math.abs(s.logSnr[t] - Math.log(ab / (1 - ab))) < 1e-12);
      }
      // alpha-bar decreases strictly.
      for (let t = 1; t < 1000; t++) assert.ok(s.alphasCumprod[t] < s.alphasCumprod[t - 1], `t=${t}`);
    });
  }

  it('spec section 6: cin256 alpha-bar at t = 0 is 1 − 0.0015 = 0.9985 (float32, tolerance 1e-7)', () => {
    const s = NoiseSchedule.fromConfig(CIN256);
    assert.ok(Math.abs(s.alphasCumprod[0] - 0.9985) < 1e-7, String(s.alphasCumprod[0]));
    // set_alpha_to_one false: the final alpha-bar is alpha-bar_0.
    assert.equal(s.finalAlphaCumprod, s.alphasCumprod[0]);
    assert.equal(s.alphaCumprodAt(-14), s.alphasCumprod[0]);
  });

  it('hand calculation: linear 1e-4→2e-2, alpha-bar_1 = 0.9999·(1 − (1e-4 + 0.0199/999)) = 0.99978009207 (1e-7); final alpha-bar 1', () => {
    const s = NoiseSchedule.fromConfig(CLASSIC_LINEAR);
    assert.ok(Math.abs(s.alphasCumprod[0] - 0.9999) < 1e-7);
    assert.ok(Math.abs(s.alphasCumprod[1] - 0.99978009207) < 1e-7);
    assert.ok(Math.abs(s.betas[999] - 0.02) < 1e-9);
    assert.equal(s.finalAlphaCumprod, 1);
  });

  it('hand calculation: cosine beta_0 = 1 − cos²((0.001+0.008)/1.008·π/2)/cos²(0.008/1.008·π/2) = 4.12842e-5 (1e-10); betas capped at 0.999', () => {
    const s = NoiseSchedule.fromConfig(COSINE_TRAILING);
    assert.ok(Math.abs(s.betas[0] - 4.128422482e-5) < 1e-10, String(s.betas[0]));
    assert.equal(s.betas[999], Math.fround(0.999));
    assert.ok(Math.max(...s.betas) <= Math.fround(0.999));
  });

  it('scaled_linear squares sqrt-spaced betas: beta_0 = 0.0015, beta_999 = 0.0195, beta_500 ≈ ((√0.0015·499 + √0.0195·500)/999)² (1e-9)', () => {
    const s = NoiseSchedule.fromConfig(CIN256);
    assert.ok(Math.abs(s.betas[0] - 0.0015) < 1e-9);
    assert.ok(Math.abs(s.betas[999] - 0.0195) < 1e-9);
    const mid = ((Math.sqrt(0.0015) * 499 + Math.sqrt(0.0195) * 500) / 999) ** 2;
    assert.ok(Math.abs(s.betas[500] - mid) < 1e-9);
  });
});

describe('diffusion/schedule: inference timesteps (diffusers DDIMScheduler.set_timesteps, exact)', () => {
  it('spec section 6: cin256 with 64 leading steps runs 946, 931, …, 16, 1; t_prev = t − 15; the last lands on final', () => {
    const plan = NoiseSchedule.fromConfig(CIN256).inferenceSchedule(64);
    assert.deepEqual(plan.timesteps, Array.from({ length: 64 }, (_, i) => 946 - 15 * i));
    assert.equal(plan.timesteps[0], 946);
    assert.equal(plan.timesteps[63], 1);
    assert.deepEqual(plan.prevTimesteps, plan.timesteps.map((t) => t - 15));
    assert.equal(plan.prevTimesteps[63], -14);
  });

  it('classic linear, offset 0, 50 leading steps: 980, 960, …, 0; diffusers rule t − 20', () => {
    const plan = NoiseSchedule.fromConfig(CLASSIC_LINEAR).inferenceSchedule(50);
    assert.deepEqual(plan.timesteps, Array.from({ length: 50 }, (_, i) => 980 - 20 * i));
    assert.equal(plan.prevTimesteps[49], -20);
  });

  it('cosine with trailing spacing: literals from numpy (np.round(np.arange(1000, 0, -1000/N)) - 1), rounding half to even', () => {
    const s = NoiseSchedule.fromConfig(COSINE_TRAILING);
    assert.deepEqual(s.inferenceSchedule(10).timesteps, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    // 1000/16 = 62.5: 937.5 → 938 (even), 812.5 → 812 (even); then − 1.
    assert.deepEqual(s.inferenceSchedule(16).timesteps, [999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
    assert.deepEqual(s.inferenceSchedule(3).timesteps, [999, 666, 332]);
    // diffusers' rule is t − (T div N), not the next element: 937 − 62 = 875 although the next is 874.
    const plan = s.inferenceSchedule(16);
    assert.equal(plan.prevTimesteps[1], 875);
    assert.equal(s.inferenceSchedule(16, 'next').prevTimesteps[1], 874);
    assert.equal(s.inferenceSchedule(16, 'next').prevTimesteps[15], -1);
  });

  it('linspace spacing: literals from numpy (np.linspace(0, 999, N).round()[::-1])', () => {
    const s = NoiseSchedule.fromConfig({ timestepSpacing: 'linspace' });
    assert.deepEqual(s.inferenceSchedule(3).timesteps, [999, 500, 0]); // 499.5 → 500 (half to even)
    assert.deepEqual(s.inferenceSchedule(6).timesteps, [999, 799, 599, 400, 200, 0]);
    assert.deepEqual(s.inferenceSchedule(64).timesteps.slice(0, 4), [999, 983, 967, 951]);
  });

  it('steps_offset is added for leading only (as diffusers), and an offset that leaves 0 … T−1 is a ScheduleError', () => {
    const trailing = NoiseSchedule.fromConfig({ timestepSpacing: 'trailing', stepsOffset: 1 });
    assert.equal(trailing.inferenceSchedule(10).timesteps[0], 999);
    const leading = NoiseSchedule.fromConfig({ stepsOffset: 1 });
    assert.throws(() => leading.inferenceSchedule(1000), {
      name: 'ScheduleError',
      message: 'leading spacing with 1000 steps and stepsOffset 1 gives timestep 1000, outside 0 … 999 (lower stepsOffset or the step count)',
    });
    assert.throws(() => leading.inferenceSchedule(1001), { name: 'ScheduleError', message: /steps = 1001 is more than numTrainTimesteps = 1000/ });
    assert.throws(() => leading.inferenceSchedule(0), { name: 'ScheduleError', message: 'steps must be a positive integer (found 0)' });
  });
});
