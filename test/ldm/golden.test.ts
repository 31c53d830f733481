/**
 * The imported tiny-cin model reproduces the reference outputs of latent-diffusion / taming-transformers
 * (shared/ldm-golden/golden-io.json: float32 CPU runs of the unmodified CompVis code). Expected values:
 * test/fixtures/ldm-golden/vq-golden-io.safetensors (vq.* and VQ intermediates) and
 * unet-golden-io.safetensors (unet.*), both byte copies of the shared golden files. Tolerance 1e-4
 * absolute (the bar; the reference's own float32-vs-float64 gap is 2–3e-6). Each comparison
 * prints its max abs error.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadSafetensorsAsTf } from '../../src/io/safetensors';
import { importLdmCheckpoint } from '../../src/ldm/import';
import { loadLdmClassEmbedder, loadLdmFirstStage, loadLdmUNet } from '../../src/ldm/model-folder';
import type { ClassEmbedder } from '../../src/models/class-embedder';
import type { UNet } from '../../src/models/unet';
import type { VQModel } from '../../src/models/vq';
import { FIXTURES, TINY_CKPT, TINY_YAML, maxAbsDiff, nhwc } from './helpers';

const TOL = 1e-4;

function report(name: string, err: number): void {
  console.log(`      max |Δ| ${name}: ${err.toExponential(2)}`);
}

describe('ldm: golden outputs of the imported tiny-cin model', () => {
  let dir: string;
  let io: Record<string, tf.Tensor>;
  let vq: VQModel;
  let unet: UNet;
  let embedder: ClassEmbedder;
  let startTensors: number;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-ldm-golden-'));
    await importLdmCheckpoint({ config: TINY_YAML, ckpt: TINY_CKPT, out: dir });
    startTensors = tf.memory().numTensors;
    io = {
      ...(await loadSafetensorsAsTf(path.join(FIXTURES, 'vq-golden-io.safetensors'))),
      ...(await loadSafetensorsAsTf(path.join(FIXTURES, 'unet-golden-io.safetensors'))),
    };
    vq = await loadLdmFirstStage(dir);
    unet = await loadLdmUNet(dir);
    embedder = await loadLdmClassEmbedder(dir);
  });

  after(() => {
    vq.dispose();
    unet.dispose();
    embedder.dispose();
    for (const t of Object.values(io)) t.dispose();
    assert.equal(tf.memory().numTensors, startTensors, 'no tensors leaked');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('VQ encode: every traced encoder intermediate and h = quant_conv(encoder(x)) within 1e-4', () => {
    const diffs = new Map<string, number>();
    tf.tidy(() => {
      const h = vq.encode(nhwc(io['vq.image']), {
        trace: (name, v) => {
          const g = io[`encode/first_stage_model.${name}`];
          if (g) diffs.set(name, maxAbsDiff(v, nhwc(g)));
        },
      });
      diffs.set('vq.h', maxAbsDiff(h, nhwc(io['vq.h'])));
    });
    assert.equal(diffs.size, 5, 'the four encoder intermediates of the fixture and h were compared');
    for (const [name, d] of diffs) {
      report(name, d);
      assert.ok(d < TOL, `${name}: ${d}`);
    }
  });

  it('quantisation: the same codebook indices (exactly), z_q within 1e-4, lookup(indices) = the codebook vectors', () => {
    tf.tidy(() => {
      const { zq, indices } = vq.quantize(nhwc(io['vq.h']));
      assert.deepEqual(Array.from(indices.dataSync()), Array.from(io['vq.indices'].dataSync()));
      const dz = maxAbsDiff(zq, nhwc(io['vq.z_q']));
      const dc = maxAbsDiff(vq.lookup(indices), nhwc(io['vq.z_codebook']));
      report('vq.z_q', dz);
      report('vq.z_codebook', dc);
      assert.ok(dz < TOL);
      assert.equal(dc, 0, 'lookup returns the stored codebook rows');
    });
  });

  it('VQ decode (quantised, and force_not_quantize) and decoder intermediates within 1e-4', () => {
    const diffs = new Map<string, number>();
    tf.tidy(() => {
      const dec = vq.decode(nhwc(io['vq.h']), {
        trace: (name, v) => {
          const g = io[`decode/first_stage_model.${name}`];
          if (g) diffs.set(name, maxAbsDiff(v, nhwc(g)));
        },
      });
      diffs.set('vq.dec', maxAbsDiff(dec, nhwc(io['vq.dec'])));
      // The first example only: the decoder is the slowest part on the pure-JS CPU backend.
      const first = (t: tf.Tensor): tf.Tensor4D => tf.slice(nhwc(t), [0, 0, 0, 0], [1, -1, -1, -1]);
      diffs.set('vq.dec_nq[0]', maxAbsDiff(vq.decode(first(io['vq.h']), { forceNotQuantize: true }), first(io['vq.dec_nq'])));
    });
    assert.equal(diffs.size, 6);
    for (const [name, d] of diffs) {
      report(name, d);
      assert.ok(d < TOL, `${name}: ${d}`);
    }
  });

  it('class embedder: context [B, 1, 16] equals unet.context exactly (a table lookup)', () => {
    tf.tidy(() => {
      const ctx = embedder.embed(tf.tensor1d(Array.from(io['unet.y'].dataSync()), 'int32'));
      assert.deepEqual(ctx.shape, [2, 1, 16]);
      const d = maxAbsDiff(ctx, io['unet.context']);
      report('unet.context', d);
      assert.equal(d, 0);
    });
    const bad = tf.tensor1d([1001], 'int32');
    assert.throws(() => embedder.embed(bad), /class embedder: label 1001 is outside 0 … 1000/);
    bad.dispose();
  });

  it('UNet ε of the imported model (class context from its embedder) within 1e-4', () => {
    tf.tidy(() => {
      const labels = tf.tensor1d(Array.from(io['unet.y'].dataSync()), 'int32');
      const t = tf.cast(io['unet.t'], 'float32') as tf.Tensor1D;
      const eps = unet.predict(nhwc(io['unet.x']), t, labels);
      const d = maxAbsDiff(eps, nhwc(io['unet.eps']));
      report('unet.eps', d);
      assert.ok(d < TOL, String(d));
    });
  });
});
