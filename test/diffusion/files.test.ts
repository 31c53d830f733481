/**
 * Schedule config files: problems come from the shared validation layer (src/schema/check.ts) and are
 * located at file:line:col in the file that holds them, every problem at once.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../src/errors';
import { loadNoiseSchedule, readNoiseScheduleFile } from '../../src/diffusion';

describe('diffusion/files: schedule config files', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-schedule-file-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function errorOf(fn: () => unknown): ConfigError {
    try {
      fn();
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
    assert.fail('expected a ConfigError');
  }

  it('a bad camelCase file: each problem at its line:col (unknown key with did-you-mean, wrong type, cross-field)', () => {
    const file = path.join(dir, 'schedule.json5');
    fs.writeFileSync(file, [
      '{',
      '  // the seed\'s schedule, with typos',
      '  numTrainTimestep: 1000,',
      '  betaStart: "0.02",',
      '  timestepSpacing: "trailng",',
      '}',
    ].join('\n'));
    const err = errorOf(() => readNoiseScheduleFile(file));
    assert.equal(err.message, [
      'invalid noise schedule config:',
      `  ${file}:3:3: numTrainTimestep: unknown property "numTrainTimestep" — did you mean "numTrainTimesteps"?`,
      `  ${file}:4:14: betaStart: must be a number (expected number, found string "0.02")`,
      `  ${file}:5:20: timestepSpacing: must be one of "leading", "trailing", "linspace" (found "trailng") — did you mean "trailing"?`,
    ].join('\n'));
    assert.equal(err.problems.length, 3);
    assert.deepEqual(err.problems[0].position, { file, line: 3, column: 3 });

    fs.writeFileSync(file, '{\n  betaStart: 0.02,\n  betaEnd: 0.001,\n}\n');
    assert.equal(errorOf(() => readNoiseScheduleFile(file)).message,
      `invalid noise schedule config:\n  ${file}:3:12: betaEnd: must be ≥ betaStart (0.02) (found 0.001)`);
  });

  it('a bad diffusers scheduler_config.json: schema and unsupported-feature problems, all located', () => {
    const file = path.join(dir, 'scheduler_config.json');
    fs.writeFileSync(file, JSON.stringify({ _class_name: 'DDIMScheduler', beta_shedule: 'linear', thresholding: true, steps_offset: 1.5 }, null, 2));
    const err = errorOf(() => readNoiseScheduleFile(file));
    assert.equal(err.message, [
      'invalid diffusers scheduler config:',
      `  ${file}:3:3: beta_shedule: unknown property "beta_shedule" — did you mean "beta_schedule"?`,
      `  ${file}:5:19: steps_offset: must be an integer (expected integer, found number 1.5)`,
      `  ${file}:4:19: thresholding: dynamic thresholding is not supported by Distillery (expected false, found true)`,
    ].join('\n'));
  });

  it('inline JSON has no file: problems carry only their JSON path', () => {
    const err = errorOf(() => loadNoiseSchedule('{"betaSchedule": "cosine"}'));
    assert.equal(err.message, 'invalid noise schedule config:\n  betaSchedule: must be one of "linear", "scaled_linear", "squaredcos_cap_v2" (found "cosine")');
    assert.equal(err.problems[0].position, undefined);
  });
});
