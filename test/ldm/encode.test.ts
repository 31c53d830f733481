/**
 * `distillery encode`: a handful of tiny PNG/JPEG images in ImageNet's layout → latent shards with the
 * imported tiny-cin first stage; shard contents equal the first stage applied to each image; an
 * interrupted encode resumes without redoing complete shards; a different encode into the same
 * folder is refused.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, UsageError } from '../../src/errors';
import { readLatentShard } from '../../src/io/shards';
import { importLdmCheckpoint } from '../../src/ldm/import';
import { encodeImageFolder } from '../../src/ldm/encode-folder';
import { LdmFirstStage } from '../../src/ldm/first-stage';
import { loadImage } from '../../src/ldm/imagenet-folder';
import { main, type CliIO } from '../../src/cli/main';
import { TINY_CKPT, TINY_YAML } from './helpers';
import { writeTinyImageNet } from './helpers';

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

describe('ldm/encode (distillery encode)', () => {
  let dir: string;
  let model: string;
  let root: string;
  let classes: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-encode-'));
    model = path.join(dir, 'model');
    await importLdmCheckpoint({ config: TINY_YAML, ckpt: TINY_CKPT, out: model });
    [root, classes] = writeTinyImageNet(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes shards of NCHW latents and labels equal to the first stage applied to each cropped image', async () => {
    const out = path.join(dir, 'latents');
    const io = captureIO();
    const code = await main(['encode', '--model', model, '--images', root, '--classes', classes, '--out', out,
      '--shard-size', '3', '--batch-size', '2', '--dtype', 'F32'], io);
    assert.equal(code, 0, io.stderr);
    assert.equal(io.stdout, `encoded 4 images into 2 shards in ${out} (latents [3, 8, 8])\n`);
    assert.deepEqual(fs.readdirSync(out).sort(), ['encode.json', 'shard-00000.safetensors', 'shard-00001.safetensors']);
    const s0 = await readLatentShard(path.join(out, 'shard-00000.safetensors'));
    const s1 = await readLatentShard(path.join(out, 'shard-00001.safetensors'));
    assert.deepEqual(s0.shape, [3, 8, 8, 3]);
    assert.deepEqual(Array.from(s0.labels), [0, 0, 2]);
    assert.deepEqual(Array.from(s1.labels), [2]);
    // Image 3 (n00000003/b.JPEG) encoded on its own must equal the last shard's latent.
    const first = await LdmFirstStage.load(model);
    const pixels = await loadImage(path.join(root, 'n00000003', 'b.JPEG'), 32);
    const want = tf.tidy(() => first.encode(tf.tensor4d(pixels, [1, 32, 32, 3])).dataSync());
    first.dispose();
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - s1.x[i]));
    assert.ok(maxDiff < 1e-5, String(maxDiff));
  });

  it('resumes after an interruption: complete shards are kept, the rest encoded; other inputs are refused', async () => {
    const out = path.join(dir, 'resume');
    const controller = new AbortController();
    await assert.rejects(encodeImageFolder({
      model, images: root, classes, out, shardSize: 1, perClass: 1, signal: controller.signal,
      log: (line) => { if (line.includes('(1 latents, 1/2)')) controller.abort(); },
    }), (e: unknown) => e instanceof CancelledError && /run the same command again to resume from shard-00001\.safetensors/.test(e.message));
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith('.safetensors')), ['shard-00000.safetensors']);
    const mtime = fs.statSync(path.join(out, 'shard-00000.safetensors')).mtimeMs;
    const r = await encodeImageFolder({ model, images: root, classes, out, shardSize: 1, perClass: 1 });
    assert.equal(r.reused, 1);
    assert.equal(r.shards.length, 2);
    assert.equal(fs.statSync(path.join(out, 'shard-00000.safetensors')).mtimeMs, mtime);
    assert.deepEqual(Array.from((await readLatentShard(r.shards[1])).labels), [2]);
    await assert.rejects(encodeImageFolder({ model, images: root, classes, out, shardSize: 2, perClass: 1 }),
      (e: unknown) => e instanceof UsageError && /holds shards of a different encode \(shardSize differ\)/.test(e.message));
  });
});

