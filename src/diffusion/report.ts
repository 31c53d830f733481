/**
 * A readable (or JSON) account of what a sampler will do with a schedule: the timesteps, alpha-bar,
 * SNR and the t → t_prev map, so users can inspect a schedule before a long run.
 */
import type { NoiseSchedule } from './schedule';
import type { InferenceSchedule, PrevTimestepRule } from './timesteps';

export interface ScheduleReportOptions {
  /** Emit JSON instead of a table. */
  json?: boolean;
  /** Report the N-step sub-sequence of this K-step base schedule (stage two). */
  subsequenceOf?: number;
  /** t_prev rule for an ordinary schedule (default `diffusers`). */
  prevRule?: PrevTimestepRule;
}

/** One row of the report: a sampler step. */
export interface ScheduleReportStep {
  step: number;
  t: number;
  alphaCumprod: number;
  snr: number;
  logSnr: number;
  tPrev: number;
  /** True when the step lands on the final alpha-bar (t_prev < 0). */
  prevIsFinal: boolean;
  alphaCumprodPrev: number;
}

export interface ScheduleReport {
  config: ReturnType<NoiseSchedule['toConfig']>;
  steps: number;
  rule: PrevTimestepRule;
  subsequenceOf: number | null;
  finalAlphaCumprod: number;
  timesteps: number[];
  prevTimesteps: number[];
  rows: ScheduleReportStep[];
}

/** The report as data (what `--json` prints). */
export function scheduleReport(schedule: NoiseSchedule, steps: number, options: ScheduleReportOptions = {}): ScheduleReport {
  const plan: InferenceSchedule = options.subsequenceOf !== undefined
    ? schedule.subsequence(options.subsequenceOf, steps)
    : schedule.inferenceSchedule(steps, options.prevRule ?? 'diffusers');
  const rows = plan.timesteps.map((t, i) => {
    const tPrev = plan.prevTimesteps[i];
    return {
      step: i,
      t,
      alphaCumprod: schedule.alphasCumprod[t],
      snr: schedule.snr[t],
      logSnr: schedule.logSnr[t],
      tPrev,
      prevIsFinal: tPrev < 0,
      alphaCumprodPrev: schedule.alphaCumprodAt(tPrev),
    };
  });
  return {
    config: schedule.toConfig(),
    steps: plan.steps,
    rule: plan.rule,
    subsequenceOf: plan.subsequenceOf ?? null,
    finalAlphaCumprod: schedule.finalAlphaCumprod,
    timesteps: [...plan.timesteps],
    prevTimesteps: [...plan.prevTimesteps],
    rows,
  };
}

function num(x: number, width: number): string {
  const s = Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(4) : x.toFixed(6);
  return s.padStart(width);
}

/** The report as text (a table), or as JSON with `json: true`. */
export function formatScheduleReport(schedule: NoiseSchedule, steps: number, options: ScheduleReportOptions = {}): string {
  const report = scheduleReport(schedule, steps, options);
  if (options.json) return JSON.stringify(report, null, 2) + '\n';
  const c = report.config;
  const lines: string[] = [];
  lines.push(
    `schedule: ${c.betaSchedule} ${c.betaSchedule === 'squaredcos_cap_v2' ? '' : `${c.betaStart} → ${c.betaEnd} `}` +
      `T=${c.numTrainTimesteps}, ${c.timestepSpacing} spacing, stepsOffset ${c.stepsOffset}, prediction ${c.predictionType}`,
  );
  lines.push(
    `sampler: ${report.steps} steps` +
      (report.subsequenceOf !== null ? `, sub-sequence of the ${report.subsequenceOf}-step schedule` : '') +
      `, t_prev rule "${report.rule}" (${report.rule === 'diffusers' ? 't − T div N' : 'next timestep in the list'})` +
      `, final alpha-bar ${report.finalAlphaCumprod} (setAlphaToOne ${c.setAlphaToOne})`,
  );
  lines.push(`${'step'.padStart(5)} ${'t'.padStart(5)} ${'alpha-bar'.padStart(12)} ${'SNR'.padStart(12)} ${'log-SNR'.padStart(12)}   ${'t_prev'.padStart(11)} ${'alpha-bar_prev'.padStart(14)}`);
  for (const r of report.rows) {
    lines.push(
      `${String(r.step).padStart(5)} ${String(r.t).padStart(5)} ${num(r.alphaCumprod, 12)} ${num(r.snr, 12)} ${num(r.logSnr, 12)}   ` +
        `${(r.prevIsFinal ? `${r.tPrev}→final` : String(r.tPrev)).padStart(11)} ${num(r.alphaCumprodPrev, 14)}`,
    );
  }
  return lines.join('\n') + '\n';
}
