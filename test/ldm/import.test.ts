/**
 * `distillery import ldm`: the real tiny-cin checkpoint imports bit-exactly (SHA-256 of every tensor of
 * tiny-cin.safetensors, the same state dict saved by the reference code); EMA weights are taken when
 * present (LitEma's dot-less names mapped back); a second, different configuration imports and runs;
 * mismatches and hostile files fail before anything is written.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, FileFormatError, ModelError } from '../../src/errors';
import { SafetensorsReader, readSafetensors } from '../../src/io/safetensors';
import { emaBufferName, importLdmCheckpoint } from '../../src/ldm/import';
import { loadLdmClassEmbedder, loadLdmFirstStage, loadLdmSchedule, loadLdmUNet, readLdmModelFile } from '../../src/ldm/model-folder';
import { main, type CliIO } from '../../src/cli/main';
import { PickleEmitter, writeTorchZip } from '../io/torch-zip-writer';
import { FIXTURES, TINY_CKPT, TINY_YAML, writeLdmCheckpoint, writeSecondYaml } from './helpers';

async function sha256ByName(file: string): Promise<Map<string, string>> {
  const r = await SafetensorsReader.open(file);
  const fh = await fs.promises.open(file, 'r');
  try {
    const out = new Map<string, string>();
    for (const name of r.names) {
      const e = r.entry(name);
      const b = Buffer.alloc(e.end - e.begin);
      await fh.read(b, 0, b.length, r.header.dataStart + e.begin);
      out.set(name, `${e.dtype} ${JSON.stringify(e.shape)} ${createHash('sha256').update(b).digest('hex')}`);
    }
    return out;
  } finally {
    await fh.close();
    await r.close();
  }
}

function captureIO(): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '', stderr: '',
    out(t: string) { io.stdout += t; },
    err(t: string) { io.stderr += t; },
    progressStream: process.stderr,
    handleSignals: false,
  };
  return io;
}

describe('ldm/import', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-ldm-import-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('tiny-cin.ckpt (written by the reference code)', () => {
    let out: string;
    let result: Awaited<ReturnType<typeof importLdmCheckpoint>>;
    before(async () => {
      out = path.join(dir, 'tiny');
      result = await importLdmCheckpoint({ config: TINY_YAML, ckpt: TINY_CKPT, out });
    });

    it('every imported tensor equals tiny-cin.safetensors bit for bit (dtype, shape, SHA-256), all 366 module tensors', async () => {
      const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tiny-cin-tensor-sha256.json'), 'utf8')) as
        Record<string, { dtype: string; shape: number[]; sha256: string }>;
      const want = (name: string): string => `${expected[name].dtype} ${JSON.stringify(expected[name].shape)} ${expected[name].sha256}`;
      const check = async (file: string, prefix: string, count: number): Promise<void> => {
        const got = await sha256ByName(path.join(out, file));
        assert.equal(got.size, count, file);
        for (const [name, h] of got) assert.equal(h, want(prefix + name), `${file}: ${name}`);
      };
      await check('unet.safetensors', 'model.diffusion_model.', 208);
      await check('first-stage.safetensors', 'first_stage_model.', 157);
      await check('class-embedder.safetensors', 'cond_stage_model.', 1);
      const imported = 208 + 157 + 1;
      // The 12 schedule buffers are the rest of the 378-key state dict.
      assert.equal(Object.keys(expected).length - imported, 12);
      assert.equal(result.skippedKeys.length, 12);
    });

    it('reports the weights taken, the step, what was skipped, and checks the YAML schedule against the checkpoint', () => {
      assert.equal(result.weights, 'model');
      assert.equal(result.globalStep, 123);
      assert.deepEqual(result.counts, { unet: 208, firstStage: 157, classEmbedder: 1 });
      assert.deepEqual(result.skippedTopLevel, []);
      assert.ok(result.ignoredConfig.includes('model.params.use_ema'));
      // float32 buffer of a float64 computation: within a float32 ulp of values ≤ 1.
      assert.ok(result.scheduleMaxAbsDiff !== null && result.scheduleMaxAbsDiff < 1.2e-7, String(result.scheduleMaxAbsDiff));
    });

    it('writes model.json and the diffusers scheduler config (scaled_linear 0.0015 → 0.0195, T = 1000, set_alpha_to_one false, steps_offset 1)', () => {
      const m = readLdmModelFile(out);
      assert.equal(m.scaleFactor, 1);
      assert.equal(m.imageSize, 32);
      assert.deepEqual(m.latentShape, [3, 8, 8]);
      assert.equal(m.unet.config.model_channels, 32);
      assert.deepEqual(m.unet.config.class_embedder, { n_classes: 1001, embed_dim: 16, key: 'class_label' });
      assert.equal(m.unet.config.null_class, 1000);
      assert.deepEqual(m.firstStage.config.ddconfig.ch_mult, [1, 2, 4]);
      assert.deepEqual(m.classEmbedder.config, { n_classes: 1001, embed_dim: 16, key: 'class_label' });
      assert.equal(m.source.weights, 'model');
      const sched = JSON.parse(fs.readFileSync(path.join(out, 'scheduler_config.json'), 'utf8'));
      assert.deepEqual(
        [sched.beta_schedule, sched.beta_start, sched.beta_end, sched.num_train_timesteps, sched.set_alpha_to_one, sched.steps_offset, sched.prediction_type],
        ['scaled_linear', 0.0015, 0.0195, 1000, false, 1, 'epsilon']);
      const schedule = loadLdmSchedule(out);
      assert.equal(schedule.numTrainTimesteps, 1000);
      assert.equal(schedule.predictionType, 'epsilon');
    });

    it('the CLI prints the summary (exit 0); --weights ema without EMA weights fails with a hint (exit 1)', async () => {
      const io = captureIO();
      const code = await main(['import', 'ldm', '--config', TINY_YAML, '--ckpt', TINY_CKPT, '--out', path.join(dir, 'cli')], io);
      assert.equal(code, 0, io.stderr);
      const lines = io.stdout.split('\n');
      assert.equal(lines[0], `imported into ${path.join(dir, 'cli')}`);
      assert.match(lines[1], /^ {2}UNet weights: model\.diffusion_model\.\* \(the checkpoint has no EMA weights, or --weights model\), global_step 123$/);
      assert.equal(lines[2], '  tensors: unet 208, first stage 157, class embedder 1');
      assert.equal(lines[3], '  image 32x32 → latent [3, 8, 8], scale factor 1');
      assert.match(io.stdout, /skipped state-dict keys \(12\): betas, alphas_cumprod, /);
      const io2 = captureIO();
      const code2 = await main(['import', 'ldm', '--config', TINY_YAML, '--ckpt', TINY_CKPT, '--out', path.join(dir, 'cli2'), '--weights', 'ema'], io2);
      assert.equal(code2, 1);
      assert.match(io2.stderr, /error: .*tiny-cin\.ckpt has no EMA weights \(no model_ema\.\* tensors\); import with --weights model/);
      const io3 = captureIO();
      assert.equal(await main(['import', 'ldm', '--config', TINY_YAML, '--ckpt', TINY_CKPT, '--out', dir, '--weights', 'best'], io3), 2);
      assert.match(io3.stderr, /--weights must be auto, ema or model \(found "best"\)/);
    });
  });

  describe('a second configuration with EMA weights (generated checkpoint)', () => {
    let yaml: string;
    let ckpt: string;
    let values: Map<string, Float32Array>;
    before(async () => {
      yaml = writeSecondYaml(dir);
      ckpt = path.join(dir, 'second.ckpt');
      values = await writeLdmCheckpoint(ckpt, yaml, { ema: true });
    });

    it('LitEma names drop the dots of the DiffusionWrapper path', () => {
      assert.equal(emaBufferName('input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight'),
        'model_ema.diffusion_modelinput_blocks11transformer_blocks0attn1to_qweight');
    });

    it('takes the EMA copy by default and the plain copy with --weights model; the modules load and run', async () => {
      const out = path.join(dir, 'second');
      const r = await importLdmCheckpoint({ config: yaml, ckpt, out });
      assert.equal(r.weights, 'ema');
      assert.equal(r.globalStep, 42);
      assert.ok(r.skippedKeys.includes('model_ema.decay'));
      assert.ok(r.skippedKeys.some((k) => k.startsWith('model.diffusion_model.')));
      const unet = await readSafetensors(path.join(out, 'unet.safetensors'));
      for (const [name, t] of unet.tensors) assert.deepEqual(t.data, values.get(emaBufferName(name)), name);
      const plain = await importLdmCheckpoint({ config: yaml, ckpt, out: path.join(dir, 'second-plain'), weights: 'model' });
      assert.equal(plain.weights, 'model');
      const unet2 = await readSafetensors(path.join(dir, 'second-plain', 'unet.safetensors'));
      for (const [name, t] of unet2.tensors) assert.deepEqual(t.data, values.get(`model.diffusion_model.${name}`), name);

      const m = readLdmModelFile(out);
      assert.equal(m.scaleFactor, 0.5);
      assert.deepEqual(m.latentShape, [4, 8, 8]);
      const before = tf.memory().numTensors;
      const model = await loadLdmUNet(out);
      const vq = await loadLdmFirstStage(out);
      const emb = await loadLdmClassEmbedder(out);
      tf.tidy(() => {
        const img = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
        const h = vq.encode(img);
        assert.deepEqual(h.shape, [1, 8, 8, 4]);
        assert.deepEqual(vq.decode(h).shape, [1, 32, 32, 3]);
        const eps = model.predict(h, tf.tensor1d([500]), tf.tensor1d([10], 'int32'));
        assert.deepEqual(eps.shape, [1, 8, 8, 4]);
        assert.ok(Number.isFinite(tf.sum(tf.abs(eps)).dataSync()[0]));
        assert.deepEqual(emb.embed(tf.tensor1d([10], 'int32')).shape, [1, 1, 8]);
      });
      model.dispose();
      vq.dispose();
      emb.dispose();
      assert.equal(tf.memory().numTensors, before);
    });
  });

  describe('refusals, before anything is written', () => {
    it('a YAML whose architecture does not fit the checkpoint: every mismatch listed', async () => {
      const yaml = path.join(dir, 'wide.yaml');
      fs.writeFileSync(yaml, fs.readFileSync(TINY_YAML, 'utf8').replace('model_channels: 32', 'model_channels: 64'));
      const out = path.join(dir, 'wide');
      await assert.rejects(importLdmCheckpoint({ config: yaml, ckpt: TINY_CKPT, out }), (e: unknown) => {
        assert.ok(e instanceof ModelError);
        assert.match(e.message, /tiny-cin\.ckpt does not fit .*wide\.yaml \(\d+ problems\): model\.diffusion_model\.time_embed\.0\.weight has shape \[128, 32\], the YAML's architecture needs \[256, 64\]/);
        return true;
      });
      assert.equal(fs.existsSync(out), false);
    });

    it('unknown or unsupported YAML settings are errors, all listed', async () => {
      const yaml = path.join(dir, 'odd.yaml');
      fs.writeFileSync(yaml, fs.readFileSync(TINY_YAML, 'utf8')
        .replace('    timesteps: 1000', '    timesteps: 1000\n    beta_schedule: cosine\n    parameterization: v\n    my_option: 3'));
      await assert.rejects(importLdmCheckpoint({ config: yaml, ckpt: TINY_CKPT, out: path.join(dir, 'odd') }), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.problems.length, 3);
        assert.match(e.message, /model\.params\.my_option: unknown latent-diffusion parameter \(refused rather than ignored, as it may change the model\)/);
        assert.match(e.message, /model\.params\.beta_schedule: only latent-diffusion's "linear" schedule .* \(found cosine\)/);
        assert.match(e.message, /model\.params\.parameterization: unsupported \(expected "eps" or "x0", found v\)/);
        return true;
      });
    });

    it('a hostile checkpoint', async () => {
      const ckpt = path.join(dir, 'hostile.ckpt');
      const pkl = new PickleEmitter().proto(2).global('builtins', 'exec').str('import os').raw(0x85).op('R').op('.').bytes();
      await writeTorchZip(ckpt, pkl, new Map());
      const out = path.join(dir, 'hostile');
      await assert.rejects(importLdmCheckpoint({ config: TINY_YAML, ckpt, out }),
        (e: unknown) => e instanceof FileFormatError && /refusing global "builtins\.exec"/.test(e.message));
      assert.equal(fs.existsSync(out), false);
      const io = captureIO();
      assert.equal(await main(['import', 'ldm', '--config', TINY_YAML, '--ckpt', ckpt, '--out', out], io), 2);
      assert.match(io.stderr, /^error: .*hostile\.ckpt:archive\/data\.pkl: pickle byte 2: refusing global "builtins\.exec"/m);
    });
  });
});
