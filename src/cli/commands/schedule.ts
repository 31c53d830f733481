/**
 * `distillery schedule --config <file or inline json> --steps N [--json] [--subsequence-of K] [--prev-rule R]`:
 * prints the timesteps, alpha-bar, SNR and the t → t_prev map a sampler will use. The seed's own
 * DistillDDIMScheduler config (teacher_max_train_steps K) shows its N-step sub-sequence of the K-step schedule.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors';
import { formatScheduleReport, loadNoiseSchedule, type PrevTimestepRule } from '../../diffusion';

export interface ScheduleCommandOptions {
  config: string;
  steps: string;
  json?: boolean;
  subsequenceOf?: string;
  prevRule?: string;
}

function positiveInteger(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${flag} must be a positive integer (found ${JSON.stringify(value)})`);
  }
  return n;
}

/** The text the command prints (thrown errors are DistilleryErrors: UsageError, ConfigError, ScheduleError, FileFormatError). */
export function scheduleCommandOutput(options: ScheduleCommandOptions): string {
  const steps = positiveInteger('--steps', options.steps);
  const subsequenceOf = options.subsequenceOf !== undefined ? positiveInteger('--subsequence-of', options.subsequenceOf) : undefined;
  let prevRule: PrevTimestepRule | undefined;
  if (options.prevRule !== undefined) {
    if (options.prevRule !== 'diffusers' && options.prevRule !== 'next') {
      throw new UsageError(`--prev-rule must be "diffusers" or "next" (found ${JSON.stringify(options.prevRule)})`);
    }
    if (subsequenceOf !== undefined) throw new UsageError('--prev-rule does not apply with --subsequence-of (a sub-sequence always steps to the next element)');
    prevRule = options.prevRule;
  }
  const schedule = loadNoiseSchedule(options.config);
  // A DistillDDIMScheduler config (teacherMaxTrainSteps K > 0) samples the sub-sequence of its K-step schedule.
  const base = subsequenceOf ?? (schedule.config.teacherMaxTrainSteps > 0 ? schedule.config.teacherMaxTrainSteps : undefined);
  if (base !== undefined && prevRule !== undefined) throw new UsageError('--prev-rule does not apply to a sub-sequence schedule (teacherMaxTrainSteps / --subsequence-of: it always steps to the next element)');
  return formatScheduleReport(schedule, steps, { json: options.json, subsequenceOf: base, prevRule });
}

/** Adds the `schedule` subcommand. `write` receives the output (stdout by default). */
export function registerScheduleCommand(program: Command, write: (text: string) => void = (t) => void process.stdout.write(t)): Command {
  return program
    .command('schedule')
    .description('print the timesteps, alpha-bar, SNR and t → t_prev map a sampler will use with a noise schedule')
    .requiredOption('--config <file-or-json>', 'schedule config: a file (camelCase or diffusers scheduler_config.json) or inline JSON starting with {')
    .requiredOption('--steps <N>', 'number of sampler steps')
    .option('--json', 'print JSON instead of a table')
    .option('--subsequence-of <K>', 'show the N-step sub-sequence of the K-step base schedule (stage-two students; default: the config\'s teacherMaxTrainSteps / teacher_max_train_steps when set)')
    .option('--prev-rule <rule>', 't_prev rule: "diffusers" (t − T div N, the default) or "next" (next timestep in the list)')
    .action((options: ScheduleCommandOptions) => {
      write(scheduleCommandOutput(options));
    });
}
