/**
 * Schedule configs: schema validation (every problem listed), diffusers import/export, and the
 * conformance suite every schedule passes (save, reload, same numbers).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../src/errors';
import { NoiseSchedule, noiseScheduleConfigSchema, resolveNoiseScheduleConfig, type NoiseScheduleConfigInput } from '../../src/diffusion';

const EXAMPLE = path.join(__dirname, '../../docs/examples/cin256-scheduler_config.json');

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail('expected a ConfigError');
}

describe('diffusion/config: camelCase schedule config', () => {
  it('fills every default from the schema', () => {
    const config = resolveNoiseScheduleConfig({});
    for (const [key, prop] of Object.entries(noiseScheduleConfigSchema.properties)) {
      assert.deepEqual((config as unknown as Record<string, unknown>)[key], (prop as { default: unknown }).default, key);
    }
  });

  it('lists every problem at once: unknown keys with "did you mean", wrong types, out-of-range values', () => {
    const err = configError(() => NoiseSchedule.fromConfig({ betaStrat: 0.001, numTrainTimesteps: 'many', betaSchedule: 'cosine', stepsOffset: -1 }));
    assert.equal(
      err.message,
      [
        'invalid noise schedule config:',
        '  betaStrat: unknown property "betaStrat" — did you mean "betaStart"?',
        '  numTrainTimesteps: must be an integer (expected integer, found string "many")',
        '  betaSchedule: must be one of "linear", "scaled_linear", "squaredcos_cap_v2" (found "cosine")',
        '  stepsOffset: must be >= 0 (found -1)',
      ].join('\n'),
    );
    assert.equal(err.problems.length, 4);
  });

  it('cross-field check: betaEnd below betaStart', () => {
    const err = configError(() => NoiseSchedule.fromConfig({ betaStart: 0.02, betaEnd: 0.001 }));
    assert.equal(err.message, 'invalid noise schedule config:\n  betaEnd: must be ≥ betaStart (0.02) (found 0.001)');
  });

  it('does not modify the caller\'s object', () => {
    const input = { betaSchedule: 'scaled_linear' as const };
    NoiseSchedule.fromConfig(input);
    assert.deepEqual(input, { betaSchedule: 'scaled_linear' });
  });
});

describe('diffusion/config: diffusers scheduler_config.json', () => {
  it('imports the cin256 example (docs/examples/cin256-scheduler_config.json)', () => {
    const s = NoiseSchedule.fromDiffusersConfig(JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')));
    assert.deepEqual(s.toConfig(), {
      numTrainTimesteps: 1000,
      betaSchedule: 'scaled_linear',
      betaStart: 0.0015,
      betaEnd: 0.0195,
      predictionType: 'epsilon',
      timestepSpacing: 'leading',
      stepsOffset: 1,
      setAlphaToOne: false,
      clipSample: false,
      clipSampleRange: 1,
      teacherMaxTrainSteps: 0,
    });
    assert.equal(s.inferenceSchedule(64).timesteps[0], 946);
  });

  it('imports the seed\'s DistillDDIMScheduler (teacher_max_train_steps; default 64) and writes it back in that form', () => {
    const seedConfig = { ...JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')), _class_name: 'DistillDDIMScheduler', teacher_max_train_steps: 64, prediction_type: 'v_prediction' };
    const s = NoiseSchedule.fromDiffusersConfig(seedConfig);
    assert.equal(s.config.teacherMaxTrainSteps, 64);
    const back = s.toDiffusersConfig();
    assert.equal(back._class_name, 'DistillDDIMScheduler');
    assert.equal(back.teacher_max_train_steps, 64);
    assert.deepEqual(NoiseSchedule.fromDiffusersConfig(back as unknown as Record<string, unknown>).toConfig(), s.toConfig());
    assert.equal(NoiseSchedule.fromDiffusersConfig({ _class_name: 'DistillDDIMScheduler' }).config.teacherMaxTrainSteps, 64);
    assert.equal(NoiseSchedule.fromConfig({}).toDiffusersConfig()._class_name, 'DDIMScheduler');
    assert.equal('teacher_max_train_steps' in NoiseSchedule.fromConfig({}).toDiffusersConfig(), false);
    const err = configError(() => NoiseSchedule.fromDiffusersConfig({ _class_name: 'DDIMScheduler', teacher_max_train_steps: 64 }));
    assert.equal(err.message, 'invalid diffusers scheduler config:\n  teacher_max_train_steps: is a key of the seed\'s DistillDDIMScheduler (found 64) — _class_name is "DDIMScheduler"; use "DistillDDIMScheduler"');
  });

  it('missing keys take diffusers\' constructor defaults (clip_sample true there)', () => {
    const s = NoiseSchedule.fromDiffusersConfig({ _class_name: 'DDIMScheduler' });
    assert.equal(s.config.clipSample, true);
    assert.equal(s.config.betaSchedule, 'linear');
    assert.equal(s.config.setAlphaToOne, true);
  });

  it('unsupported features and unknown keys are errors listing all of them, not warnings', () => {
    const err = configError(() =>
      NoiseSchedule.fromDiffusersConfig({
        trained_betas: [0.1, 0.2],
        thresholding: true,
        rescale_betas_zero_snr: true,
        skip_prk_steps: true,
        beta_shedule: 'linear',
        timestep_spacing: 'karras',
      }),
    );
    assert.equal(
      err.message,
      [
        'invalid diffusers scheduler config:',
        '  skip_prk_steps: unknown property "skip_prk_steps" — known properties: "num_train_timesteps", "beta_schedule", "beta_start", "beta_end", "prediction_type", "timestep_spacing", "steps_offset", "set_alpha_to_one", "clip_sample", "clip_sample_range", "teacher_max_train_steps", "_class_name", "_diffusers_version", "trained_betas", "thresholding", "dynamic_thresholding_ratio", "sample_max_value", "rescale_betas_zero_snr", "variance_type"',
        '  beta_shedule: unknown property "beta_shedule" — did you mean "beta_schedule"?',
        '  timestep_spacing: must be one of "leading", "trailing", "linspace" (found "karras")',
        '  trained_betas: explicit trained betas is not supported by Distillery (expected null, found [0.1,0.2])',
        '  thresholding: dynamic thresholding is not supported by Distillery (expected false, found true)',
        '  rescale_betas_zero_snr: zero-terminal-SNR beta rescaling is not supported by Distillery (expected false, found true)',
      ].join('\n'),
    );
  });

  it('refuses other scheduler classes, naming the supported ones', () => {
    const err = configError(() => NoiseSchedule.fromDiffusersConfig({ _class_name: 'PNDMScheduler' }));
    assert.equal(
      err.message,
      'invalid diffusers scheduler config:\n  _class_name: unsupported scheduler class (expected DDIMScheduler or DDPMScheduler or DistillDDIMScheduler, found "PNDMScheduler") — only the DDIM/DDPM discrete schedule is implemented; convert the file to a DDIMScheduler config',
    );
  });

  it('DDPMScheduler: variance_type fixed_small accepted (final alpha-bar 1), others refused; no set_alpha_to_one', () => {
    const s = NoiseSchedule.fromDiffusersConfig({ _class_name: 'DDPMScheduler', variance_type: 'fixed_small', clip_sample: false });
    assert.equal(s.finalAlphaCumprod, 1);
    const err = configError(() => NoiseSchedule.fromDiffusersConfig({ _class_name: 'DDPMScheduler', variance_type: 'learned_range', set_alpha_to_one: false }));
    assert.match(err.message, /variance_type: a DDPM variance type other than "fixed_small" is not supported by Distillery \(expected "fixed_small", found "learned_range"\)/);
    assert.match(err.message, /set_alpha_to_one: is not a DDPMScheduler key/);
    const ddim = configError(() => NoiseSchedule.fromDiffusersConfig({ variance_type: 'fixed_small' }));
    assert.match(ddim.message, /variance_type: is a DDPMScheduler key/);
  });
});

describe('diffusion/config: conformance (save, reload, same numbers)', () => {
  const configs: NoiseScheduleConfigInput[] = [
    {},
    { numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, setAlphaToOne: false, stepsOffset: 1 },
    { betaSchedule: 'squaredcos_cap_v2', timestepSpacing: 'trailing', predictionType: 'v_prediction' },
    { numTrainTimesteps: 500, timestepSpacing: 'linspace', clipSample: true, clipSampleRange: 2, predictionType: 'sample' },
  ];
  for (const input of configs) {
    it(`round-trips ${JSON.stringify(input)} through toConfig and toDiffusersConfig (JSON text)`, () => {
      const s = NoiseSchedule.fromConfig(input);
      const viaOurs = NoiseSchedule.fromConfig(JSON.parse(JSON.stringify(s.toConfig())));
      const viaDiffusers = NoiseSchedule.fromDiffusersConfig(JSON.parse(JSON.stringify(s.toDiffusersConfig())));
      for (const other of [viaOurs, viaDiffusers]) {
        assert.deepEqual(other.toConfig(), s.toConfig());
        assert.deepEqual(other.betas, s.betas);
        assert.deepEqual(other.alphasCumprod, s.alphasCumprod);
        assert.equal(other.finalAlphaCumprod, s.finalAlphaCumprod);
        assert.deepEqual(other.inferenceSchedule(10), s.inferenceSchedule(10));
      }
      assert.deepEqual(viaDiffusers.toDiffusersConfig(), s.toDiffusersConfig());
    });
  }
});
