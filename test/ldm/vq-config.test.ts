/**
 * The VQ first-stage config: schema defaults, unknown keys, and the cross-field checks of the reference
 * architecture (32 GroupNorm groups, divisibility of the resolution, no double_z for a VQ model); the
 * class embedder's label range. Messages are asserted as users see them.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../src/errors';
import { resolveVQConfig, vqParameterShapes, VQModel } from '../../src/models/vq';

const TINY = {
  embed_dim: 3, n_embed: 64,
  ddconfig: { z_channels: 3, resolution: 32, in_channels: 3, out_ch: 3, ch: 32, ch_mult: [1, 2, 4], num_res_blocks: 1, attn_resolutions: [] },
};

function problemsOf(input: unknown): string[] {
  try {
    resolveVQConfig(input);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('accepted');
}

describe('models/vq config', () => {
  it('fills the defaults (double_z false, dropout 0, resamp_with_conv true)', () => {
    const c = resolveVQConfig(TINY);
    assert.deepEqual([c.ddconfig.double_z, c.ddconfig.dropout, c.ddconfig.resamp_with_conv], [false, 0, true]);
  });

  it('refuses unknown keys and lists every schema problem', () => {
    const p = problemsOf({ ...TINY, remap: 'x', ddconfig: { ...TINY.ddconfig, ch: 0, tanh_out: true } });
    assert.equal(p.length, 3, p.join('\n'));
    assert.ok(p.some((s) => /remap/.test(s)));
    assert.ok(p.some((s) => /tanh_out/.test(s)));
    assert.ok(p.some((s) => /^ddconfig\.ch: /.test(s)));
  });

  it('cross-field: widths divisible by the 32 GroupNorm groups, resolution by 2^(levels−1), no double_z', () => {
    assert.deepEqual(problemsOf({ ...TINY, ddconfig: { ...TINY.ddconfig, ch: 48, resolution: 30, double_z: true } }), [
      'ddconfig.resolution: must be divisible by 4 (2 downsamplings)',
      'ddconfig.double_z: a VQ first stage has a single latent (double_z is for the KL autoencoder)',
      'ddconfig.ch: width 48 is not divisible by the 32 GroupNorm groups of the reference architecture',
    ]);
  });

  it('attention inside levels follows attn_resolutions (pixel sizes): down.i.attn.j and up.i.attn.j', () => {
    const shapes = vqParameterShapes({ ...TINY, ddconfig: { ...TINY.ddconfig, attn_resolutions: [16] } });
    assert.deepEqual([...shapes.keys()].filter((k) => /\.attn\.\d+\.q\.weight$/.test(k)),
      ['encoder.down.1.attn.0.q.weight', 'decoder.up.1.attn.0.q.weight', 'decoder.up.1.attn.1.q.weight']);
    assert.deepEqual(shapes.get('encoder.down.1.attn.0.q.weight'), [64, 64, 1, 1]);
  });

  it('checks image and latent shapes', () => {
    const vq = new VQModel(TINY);
    const bad = tf.zeros([1, 10, 10, 3]) as tf.Tensor4D;
    assert.throws(() => vq.encode(bad), /vq: image is 10x10; height and width must be divisible by 4/);
    const latent = tf.zeros([1, 2, 2, 4]) as tf.Tensor4D;
    assert.throws(() => vq.decode(latent), /vq: latents must be \[B, h, w, 3\] \(NHWC\), found \[1, 2, 2, 4\]/);
    tf.dispose([bad, latent]);
    vq.dispose();
  });
});
