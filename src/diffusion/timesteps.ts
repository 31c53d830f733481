/**
 * Inference timesteps (spec section 3) and the stage-two sub-sequence schedule (spec section 5.3).
 *
 * A negative previous timestep means "final": the step lands on the final alpha-bar (1 with
 * setAlphaToOne, alpha-bar at t = 0 without).
 */
import { ScheduleError } from '../errors';
import type { TimestepSpacing } from './config';

/**
 * How a sampler finds the timestep it steps to from t:
 * - `diffusers`: t_prev = t − (T div N) for every spacing, as diffusers' DDIMScheduler does (the default);
 *   for `trailing` and `linspace` this is not always the next element of the list.
 * - `next`: the next element of the timestep list, and "final" after the last one. The stage-two
 *   sub-sequence schedule always uses this rule (spec 5.3: t'' = timesteps_N[i+1], or final).
 */
export type PrevTimestepRule = 'diffusers' | 'next';

/** The part of a schedule config that decides the inference timesteps. */
export interface TimestepConfig {
  numTrainTimesteps: number;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

/** The timesteps a sampler visits, and where each step goes. */
export interface InferenceSchedule {
  /** Number of sampler steps N. */
  readonly steps: number;
  /** Timesteps from large to small, length N. */
  readonly timesteps: readonly number[];
  /** Timestep each step lands on, length N; negative = "final". */
  readonly prevTimesteps: readonly number[];
  readonly rule: PrevTimestepRule;
  /** Set for a stage-two sub-sequence: the base step count K it was taken from. */
  readonly subsequenceOf?: number;
}

/** numpy's `round`: half to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function checkSteps(steps: number, T: number, what = 'steps'): void {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new ScheduleError(`${what} must be a positive integer (found ${steps})`);
  }
  if (steps > T) {
    throw new ScheduleError(`${what} = ${steps} is more than numTrainTimesteps = ${T}: there are only ${T} timesteps to visit`);
  }
}

/**
 * The N inference timesteps of a spacing, large to small, exactly as diffusers computes them (numpy
 * float64 arithmetic, rounding half to even). Throws ScheduleError when a timestep falls outside 0 … T−1.
 */
export function inferenceTimesteps(config: TimestepConfig, steps: number): number[] {
  const T = config.numTrainTimesteps;
  checkSteps(steps, T);
  let timesteps: number[];
  switch (config.timestepSpacing) {
    case 'leading': {
      const r = Math.floor(T / steps);
      timesteps = [];
      for (let i = steps - 1; i >= 0; i--) timesteps.push(i * r + config.stepsOffset);
      break;
    }
    case 'trailing': {
      // np.arange(T, 0, -T/N): the first two values are T and T + (−T/N); the rest are T + i·delta with
      // delta the difference of those two, all in float64. (numpy yields N + 1 values for a few N, e.g.
      // T = 1000 and N = 61, the last being ~0 → timestep −1; diffusers then indexes alpha-bar with −1.
      // Only the first N are used here.)
      const first = T + -(T / steps);
      const delta = first - T;
      timesteps = [];
      for (let i = 0; i < steps; i++) {
        const v = i === 0 ? T : i === 1 ? first : T + i * delta;
        timesteps.push(roundHalfEven(v) - 1);
      }
      break;
    }
    case 'linspace': {
      const stop = T - 1;
      const values: number[] = [];
      if (steps === 1) values.push(0);
      else {
        const step = stop / (steps - 1);
        for (let i = 0; i < steps; i++) values.push(i === steps - 1 ? stop : i * step);
      }
      timesteps = values.map(roundHalfEven).reverse();
      break;
    }
    default:
      throw new ScheduleError(`unknown timestep spacing ${JSON.stringify(config.timestepSpacing)}`);
  }
  const bad = timesteps.filter((t) => t < 0 || t >= T);
  if (bad.length) {
    throw new ScheduleError(
      `${config.timestepSpacing} spacing with ${steps} steps and stepsOffset ${config.stepsOffset} gives timestep ` +
        `${bad[0]}, outside 0 … ${T - 1}` + (config.stepsOffset > 0 ? ' (lower stepsOffset or the step count)' : ''),
    );
  }
  return timesteps;
}

/** Previous timesteps for a list of timesteps under a rule; negative = final. */
export function previousTimesteps(timesteps: readonly number[], numTrainTimesteps: number, rule: PrevTimestepRule): number[] {
  if (rule === 'diffusers') {
    const r = Math.floor(numTrainTimesteps / timesteps.length);
    return timesteps.map((t) => t - r);
  }
  if (rule === 'next') return timesteps.map((_, i) => (i + 1 < timesteps.length ? timesteps[i + 1] : -1));
  throw new ScheduleError(`unknown previous-timestep rule ${JSON.stringify(rule)} (expected "diffusers" or "next")`);
}

/** The N-step schedule of a spacing with a previous-timestep rule (default: diffusers'). */
export function makeInferenceSchedule(config: TimestepConfig, steps: number, rule: PrevTimestepRule = 'diffusers'): InferenceSchedule {
  const timesteps = inferenceTimesteps(config, steps);
  return { steps, timesteps, prevTimesteps: previousTimesteps(timesteps, config.numTrainTimesteps, rule), rule };
}

/**
 * The N-step sub-sequence of the K-step base schedule (spec 5.3): timesteps_N[i] = timesteps_K[i·K/N],
 * each step landing on the next element, and on "final" after the last. K must be divisible by N.
 */
export function subsequenceSchedule(config: TimestepConfig, baseSteps: number, steps: number): InferenceSchedule {
  checkSteps(baseSteps, config.numTrainTimesteps, 'base steps K');
  if (!Number.isInteger(steps) || steps < 1) throw new ScheduleError(`sub-sequence steps N must be a positive integer (found ${steps})`);
  if (baseSteps % steps !== 0) {
    throw new ScheduleError(
      `a sub-sequence of N = ${steps} steps needs the base step count K = ${baseSteps} to be divisible by N ` +
        `(K/N = ${(baseSteps / steps).toFixed(3)}); use an N that divides ${baseSteps}`,
    );
  }
  const base = inferenceTimesteps(config, baseSteps);
  const stride = baseSteps / steps;
  const timesteps = Array.from({ length: steps }, (_, i) => base[i * stride]);
  return { steps, timesteps, prevTimesteps: previousTimesteps(timesteps, config.numTrainTimesteps, 'next'), rule: 'next', subsequenceOf: baseSteps };
}

/** One stage-two student step and the teacher's two steps inside it (spec 5.3 step 1). */
export interface DistillationTriple {
  /** Index i of the student step, 0 … N−1. */
  readonly index: number;
  /** t = timesteps_N[i] = timesteps_2N[2i]: where both start. */
  readonly t: number;
  /** t' = timesteps_2N[2i+1]: the teacher's intermediate timestep. */
  readonly tMid: number;
  /** t'' = timesteps_N[i+1], or −1 ("final") for the last step: where the student must land. */
  readonly tNext: number;
}

/**
 * The (t, t', t'') triples of a stage-two round whose student samples in N steps and whose teacher
 * samples in 2N, both sub-sequences of the K-step base schedule. K must be divisible by 2N.
 */
export function distillationTriples(config: TimestepConfig, baseSteps: number, studentSteps: number): DistillationTriple[] {
  const teacherSteps = 2 * studentSteps;
  if (Number.isInteger(studentSteps) && studentSteps >= 1 && baseSteps % teacherSteps !== 0) {
    throw new ScheduleError(
      `a distillation round with a ${studentSteps}-step student needs its ${teacherSteps}-step teacher to be a ` +
        `sub-sequence of the K = ${baseSteps}-step base schedule, so K must be divisible by ${teacherSteps}`,
    );
  }
  const teacher = subsequenceSchedule(config, baseSteps, teacherSteps);
  return Array.from({ length: studentSteps }, (_, i) => ({
    index: i,
    t: teacher.timesteps[2 * i],
    tMid: teacher.timesteps[2 * i + 1],
    tNext: i + 1 < studentSteps ? teacher.timesteps[2 * i + 2] : -1,
  }));
}
