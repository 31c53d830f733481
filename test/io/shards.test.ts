import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listShardFiles, nchwToNhwc, nhwcToNchw, readLatentShard, readLatentShards, writeLatentShard } from '../../src/io/shards';
import { writeSafetensors } from '../../src/io/safetensors';

describe('io/shards', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shards-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('transposes NHWC ↔ NCHW by hand on a [1, 1, 2, 3] example', () => {
    // NHWC pixel (0,0)=[1,2,3], (0,1)=[4,5,6] → NCHW channel planes [1,4],[2,5],[3,6].
    const nchw = nhwcToNchw(Float32Array.from([1, 2, 3, 4, 5, 6]), [1, 1, 2, 3]);
    assert.deepEqual(Array.from(nchw), [1, 4, 2, 5, 3, 6]);
    assert.deepEqual(Array.from(nchwToNhwc(nchw, [1, 3, 1, 2])), [1, 2, 3, 4, 5, 6]);
  });

  it('writes F16 NCHW shards and reads them back as NHWC (F16 rounding only)', async () => {
    const x = Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => i / 8 - 1);
    await writeLatentShard(path.join(dir, 'a.safetensors'), { x, shape: [2, 2, 2, 3], labels: Int32Array.from([7, 1000]) });
    const back = await readLatentShard(path.join(dir, 'a.safetensors'));
    assert.deepEqual(back.shape, [2, 2, 2, 3]);
    assert.deepEqual(Array.from(back.labels), [7, 1000]);
    // Multiples of 1/8 in [-1, 2] are exact in F16.
    assert.deepEqual(Array.from(back.x), Array.from(x));
  });

  it('concatenates the shards of a folder in name order, up to a limit', async () => {
    const one = { x: new Float32Array(4).fill(1), shape: [1, 1, 1, 4] as [number, number, number, number], labels: Int32Array.from([1]) };
    const two = { x: new Float32Array(8).fill(2), shape: [2, 1, 1, 4] as [number, number, number, number], labels: Int32Array.from([2, 3]) };
    await writeLatentShard(path.join(dir, 'b.safetensors'), two, { dtype: 'F32' });
    await writeLatentShard(path.join(dir, 'a.safetensors'), one, { dtype: 'F32' });
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    assert.deepEqual(listShardFiles(dir).map((f) => path.basename(f)), ['a.safetensors', 'b.safetensors']);
    const all = await readLatentShards(dir);
    assert.deepEqual(Array.from(all.labels), [1, 2, 3]);
    assert.equal(all.x[4], 2);
    const two1 = await readLatentShards(dir, 2);
    assert.deepEqual(two1.shape, [2, 1, 1, 4]);
  });

  it('names the missing tensor and the mismatched label count', async () => {
    const f = path.join(dir, 'bad.safetensors');
    await writeSafetensors(f, { images: { dtype: 'F32', shape: [1], data: [0] } });
    await assert.rejects(readLatentShard(f), /bad\.safetensors: latent shard has no tensor "latents" \(found: images\)/);
    await writeSafetensors(f, { latents: { dtype: 'F32', shape: [2, 1, 1, 1], data: [0, 0] }, labels: { dtype: 'I64', shape: [3], data: [0, 0, 0] } });
    await assert.rejects(readLatentShard(f), /"labels" must be \[2\] \(one per latent\), found \[3\]/);
    assert.throws(() => listShardFiles(path.join(dir, 'nope')), /latent shards not found/);
  });
});
