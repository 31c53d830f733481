/** `distillery schedule`: the report a user reads before a long run, through commander. */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { Command } from 'commander';
import { registerScheduleCommand } from '../../../src/cli/commands/schedule';

const EXAMPLE = path.join(__dirname, '../../../docs/examples/cin256-scheduler_config.json');

async function run(args: string[]): Promise<string> {
  let out = '';
  const program = new Command('distillery').exitOverride();
  registerScheduleCommand(program, (text) => (out += text));
  await program.parseAsync(['node', 'distillery', 'schedule', ...args]);
  return out;
}

describe('cli: distillery schedule', () => {
  it('prints the cin256 64-step table from the diffusers example file: 946 → 931 first, 1 → −14 (final) last', async () => {
    const out = await run(['--config', EXAMPLE, '--steps', '64']);
    const lines = out.trimEnd().split('\n');
    assert.equal(lines[0], 'schedule: scaled_linear 0.0015 → 0.0195 T=1000, leading spacing, stepsOffset 1, prediction epsilon');
    assert.match(lines[1], /^sampler: 64 steps, t_prev rule "diffusers" \(t − T div N\), final alpha-bar 0\.99849998\d* \(setAlphaToOne false\)$/);
    assert.equal(lines.length, 3 + 64);
    assert.match(lines[3], /^ {4}0 {3}946 .* {8}931 /);
    assert.match(lines[66], /^ {3}63 {5}1 +0\.99699\d+ .* -14→final +0\.998500$/);
  });

  it('--json with inline camelCase config and --subsequence-of gives the stage-two sub-sequence', async () => {
    const out = await run(['--config', '{betaSchedule: "scaled_linear", betaStart: 0.0015, betaEnd: 0.0195, stepsOffset: 1, setAlphaToOne: false}', '--steps', '4', '--subsequence-of', '64', '--json']);
    const report = JSON.parse(out);
    assert.deepEqual(report.timesteps, [946, 706, 466, 226]);
    assert.deepEqual(report.prevTimesteps, [706, 466, 226, -1]);
    assert.equal(report.rule, 'next');
    assert.equal(report.subsequenceOf, 64);
    assert.equal(report.rows[3].prevIsFinal, true);
    assert.ok(Math.abs(report.rows[3].alphaCumprodPrev - 0.9985) < 1e-7);
    assert.ok(Math.abs(report.rows[0].snr - report.rows[0].alphaCumprod / (1 - report.rows[0].alphaCumprod)) < 1e-12);
  });

  it('the seed\'s DistillDDIMScheduler config (teacher_max_train_steps 64) shows its sub-sequence without --subsequence-of', async () => {
    const config = JSON.stringify({ _class_name: 'DistillDDIMScheduler', teacher_max_train_steps: 64, beta_schedule: 'scaled_linear', beta_start: 0.0015, beta_end: 0.0195, steps_offset: 1, set_alpha_to_one: false, clip_sample: false, prediction_type: 'v_prediction' });
    const report = JSON.parse(await run(['--config', config, '--steps', '4', '--json']));
    // The same numbers as --subsequence-of 64 above (spec 5.3: timesteps_N[i] = timesteps_K[i·K/N]).
    assert.deepEqual(report.timesteps, [946, 706, 466, 226]);
    assert.deepEqual(report.prevTimesteps, [706, 466, 226, -1]);
    assert.equal(report.subsequenceOf, 64);
    await assert.rejects(run(['--config', config, '--steps', '4', '--prev-rule', 'diffusers']), /--prev-rule does not apply to a sub-sequence schedule/);
  });

  it('--prev-rule next on trailing spacing steps to the next element', async () => {
    const report = JSON.parse(await run(['--config', '{"timestepSpacing": "trailing"}', '--steps', '16', '--prev-rule', 'next', '--json']));
    assert.deepEqual(report.prevTimesteps.slice(0, 2), [937, 874]);
  });

  it('reports config problems, bad flags and unreadable files with their messages', async () => {
    await assert.rejects(run(['--config', '{"beta_schedul": "linear"}', '--steps', '4']), {
      name: 'ConfigError',
      message: 'invalid diffusers scheduler config:\n  beta_schedul: unknown property "beta_schedul" — did you mean "beta_schedule"?',
    });
    await assert.rejects(run(['--config', '{}', '--steps', 'four']), { name: 'UsageError', message: '--steps must be a positive integer (found "four")' });
    await assert.rejects(run(['--config', '{}', '--steps', '4', '--prev-rule', 'last']), { name: 'UsageError', message: '--prev-rule must be "diffusers" or "next" (found "last")' });
    await assert.rejects(run(['--config', 'no/such/file.json', '--steps', '4']), { name: 'FileFormatError', message: 'no/such/file.json: cannot read the schedule config: ENOENT' });
    await assert.rejects(run(['--config', '{}', '--steps', '48', '--subsequence-of', '64']), { name: 'ScheduleError', message: /divisible by N/ });
  });
});
