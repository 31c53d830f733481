/**
 * LDM YAML: checked by the shared validation layer (src/schema/check.ts); every problem at once, each at
 * file:line:col, unknown keys with a "did you mean", wrong types with what was expected and found.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, FileFormatError } from '../../src/errors';
import { parseLdmYaml, readLdmYaml } from '../../src/io/ldm-yaml';

const EXAMPLE = path.join(__dirname, '../../docs/examples/cin256-v2.yaml');

describe('io/ldm-yaml', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-ldm-yaml-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function configError(fn: () => unknown): ConfigError {
    try {
      fn();
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
    assert.fail('expected a ConfigError');
  }

  it('reads the cin256 example: schedule, embedder, scale factor and the ignored training-only keys', () => {
    const spec = readLdmYaml(EXAMPLE);
    assert.deepEqual(spec.scheduler, {
      _class_name: 'DDIMScheduler', beta_start: 0.0015, beta_end: 0.0195, beta_schedule: 'scaled_linear', num_train_timesteps: 1000,
      prediction_type: 'epsilon', set_alpha_to_one: false, steps_offset: 1, timestep_spacing: 'leading', clip_sample: false, trained_betas: null,
    });
    assert.deepEqual(spec.classEmbedder, { n_classes: 1001, embed_dim: 512, key: 'class_label' });
    assert.equal(spec.scaleFactor, 1);
    assert.equal(spec.scaleByStd, false);
    assert.equal(spec.imageSize, 256);
    assert.deepEqual(spec.ignored, [
      'model.params.num_timesteps_cond', 'model.params.log_every_t', 'model.params.first_stage_key', 'model.params.cond_stage_key',
      'model.params.image_size', 'model.params.channels', 'model.params.cond_stage_trainable', 'model.params.monitor',
      'model.params.use_ema', 'model.params.first_stage_config.params.lossconfig',
    ]);
  });

  it('a bad YAML: unknown keys with did-you-mean, wrong types, a missing key and an unsupported class, all located', () => {
    const file = path.join(dir, 'bad.yaml');
    const text = fs.readFileSync(EXAMPLE, 'utf8')
      .replace('    linear_start: 0.0015', '    linear_strat: 0.0015')
      .replace('    timesteps: 1000', '    timesteps: "1000"\n    scale_by_std: yes')
      .replace('  target: ldm.models.diffusion.ddpm.LatentDiffusion', '  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  lightnin: {}')
      .replace('        embed_dim: 512\n', '        embed_dims: 512\n')
      .replace('ldm.models.autoencoder.VQModelInterface', 'ldm.models.autoencoder.AutoencoderKL');
    fs.writeFileSync(file, text);
    const err = configError(() => readLdmYaml(file));
    assert.equal(err.message, [
      `invalid latent-diffusion config ${file}:`,
      `  ${file}:8:3: model.lightnin: unknown property "lightnin" — known properties: "target", "base_learning_rate", "params"`,
      `  ${file}:10:5: model.params.linear_strat: unknown latent-diffusion parameter (refused rather than ignored, as it may change the model) — did you mean "linear_start"?`,
      `  ${file}:59:9: model.params.cond_stage_config.params: missing required property "embed_dim" — "embed_dim": Width of a class embedding.`,
      `  ${file}:60:9: model.params.cond_stage_config.params.embed_dims: unknown property "embed_dims" — did you mean "embed_dim"?`,
      `  ${file}:14:16: model.params.timesteps: must be an integer (expected integer, found string "1000")`,
      `  ${file}:15:19: model.params.scale_by_std: must be a boolean (expected boolean, found string "yes")`,
      `  ${file}:39:15: model.params.first_stage_config.target: unsupported class (expected ldm.models.autoencoder.VQModelInterface, found ldm.models.autoencoder.AutoencoderKL)`,
    ].join('\n'));
    assert.equal(err.problems.length, 7);
  });

  it('a YAML that is not a latent-diffusion config names what is missing; parsed data without a file has JSON paths only', () => {
    const err = configError(() => parseLdmYaml({ modle: {} }, 'x.yaml'));
    assert.equal(err.message, [
      'invalid latent-diffusion config x.yaml:',
      '  missing required property "model" — "model": The LatentDiffusion model.',
      '  modle: unknown property "modle" — did you mean "model"?',
    ].join('\n'));
    assert.equal(err.problems[1].position, undefined);
  });

  it('YAML syntax errors are a FileFormatError with line and column', () => {
    const file = path.join(dir, 'syntax.yaml');
    fs.writeFileSync(file, 'model:\n  target: a\n  target: b\n');
    assert.throws(() => readLdmYaml(file), (e: unknown) => e instanceof FileFormatError &&
      e.message.startsWith(`${file}: invalid YAML at 3:3: Map keys must be unique`));
  });
});
