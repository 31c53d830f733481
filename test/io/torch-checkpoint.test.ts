/**
 * The torch.save zip reader: the real tiny-cin.ckpt (written by PyTorch 1.13) gives every tensor
 * bit-exactly (SHA-256 of each tensor's bytes in tiny-cin.safetensors, made by
 * test/fixtures/ldm-golden/make-ldm-fixtures.py); generated checkpoints cover strided views, shared
 * storages, parameters, half storages, Lightning extras; hostile and foreign files get clear errors.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileFormatError } from '../../src/errors';
import { PickleOpaque, PickleDict } from '../../src/io/pickle';
import { TorchCheckpoint, detectCheckpointKind, stateDictOf } from '../../src/io/torch-checkpoint';
import { PickleEmitter, stateDictPickle, writeTorchZip, type FakeTensor } from './torch-zip-writer';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'ldm-golden');

async function openError(file: string): Promise<FileFormatError> {
  try {
    await (await TorchCheckpoint.open(file)).close();
  } catch (e) {
    assert.ok(e instanceof FileFormatError, `expected FileFormatError, got ${String(e)}`);
    return e;
  }
  assert.fail('the checkpoint was accepted');
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

describe('io/torch-checkpoint', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-ckpt-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads tiny-cin.ckpt: 378 tensors, names, shapes, dtypes and bytes equal to tiny-cin.safetensors (SHA-256 per tensor)', async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tiny-cin-tensor-sha256.json'), 'utf8')) as
      Record<string, { dtype: string; shape: number[]; sha256: string }>;
    const ckpt = await TorchCheckpoint.open(path.join(FIXTURES, 'tiny-cin.ckpt'));
    try {
      assert.equal(ckpt.prefix, 'tiny-cin/');
      const { tensors, others, topLevelKeys } = stateDictOf(ckpt.file, ckpt.root);
      assert.deepEqual(topLevelKeys, ['state_dict', 'global_step']);
      assert.equal((ckpt.root as PickleDict).get('global_step'), 123);
      assert.equal(others.size, 0);
      assert.deepEqual([...tensors.keys()].sort(), Object.keys(expected).sort());
      let mismatches = 0;
      for (const [name, ref] of tensors) {
        const t = await ckpt.readTensor(ref);
        const e = expected[name];
        if (t.dtype !== e.dtype || JSON.stringify(t.shape) !== JSON.stringify(e.shape) ||
          createHash('sha256').update(t.bytes).digest('hex') !== e.sha256) mismatches++;
      }
      assert.equal(mismatches, 0);
    } finally {
      await ckpt.close();
    }
  });

  it('strided views, storage offsets, shared storages, parameters and half storages', async () => {
    // Storage "0": 12 floats 0..11; "1": 4 halves (1, 2, 3, 4) as IEEE bits.
    const s0 = f32Bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const s1 = new Uint8Array(Uint16Array.from([0x3c00, 0x4000, 0x4200, 0x4400]).buffer);
    const tensors: Array<[string, FakeTensor]> = [
      ['whole', { storage: 'FloatStorage', key: '0', shape: [3, 4] }],
      ['transposed', { storage: 'FloatStorage', key: '0', shape: [4, 3], stride: [1, 4] }],
      ['row2', { storage: 'FloatStorage', key: '0', shape: [4], offset: 8 }],
      ['param', { storage: 'FloatStorage', key: '0', shape: [2, 2], stride: [4, 1], offset: 1, parameter: true }],
      ['half', { storage: 'HalfStorage', key: '1', shape: [2, 2] }],
    ];
    const file = path.join(dir, 'views.ckpt');
    await writeTorchZip(file, stateDictPickle(tensors, new Map([['0', 12], ['1', 4]])), new Map([['0', s0], ['1', s1]]));
    const ckpt = await TorchCheckpoint.open(file);
    try {
      const { tensors: refs } = stateDictOf(file, ckpt.root);
      const floats = async (n: string): Promise<number[]> => {
        const t = await ckpt.readTensor(refs.get(n)!);
        return Array.from(new Float32Array(t.bytes.slice().buffer));
      };
      assert.deepEqual(await floats('whole'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      assert.deepEqual(await floats('transposed'), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
      assert.deepEqual(await floats('row2'), [8, 9, 10, 11]);
      assert.deepEqual(await floats('param'), [1, 2, 5, 6]);
      const half = await ckpt.readTensor(refs.get('half')!);
      assert.equal(half.dtype, 'F16');
      assert.deepEqual(Array.from(new Uint16Array(half.bytes.slice().buffer)), [0x3c00, 0x4000, 0x4200, 0x4400]);
    } finally {
      await ckpt.close();
    }
  });

  it('Lightning extras (callback state keyed by its class, optimizer states) are read as inert data, never loaded', async () => {
    const file = path.join(dir, 'lightning.ckpt');
    const extra = (e: PickleEmitter): void => {
      e.str('callbacks').op('}').global('pytorch_lightning.callbacks.model_checkpoint', 'ModelCheckpoint')
        .op('}').str('best_model_path').str('/x/last.ckpt').op('s').op('s');
      e.str('optimizer_states').op(']').op('}').str('lr').raw(0x47, 0x3f, 0x1a, 0x36, 0xe2, 0xeb, 0x1c, 0x43, 0x2d).op('s').op('a');
    };
    const pkl = stateDictPickle([['w', { storage: 'FloatStorage', key: '0', shape: [2] }]], new Map([['0', 2]]), 5, [extra]);
    await writeTorchZip(file, pkl, new Map([['0', f32Bytes([1, 2])]]));
    const ckpt = await TorchCheckpoint.open(file);
    try {
      const { tensors, topLevelKeys } = stateDictOf(file, ckpt.root);
      assert.deepEqual(topLevelKeys, ['state_dict', 'global_step', 'callbacks', 'optimizer_states']);
      assert.deepEqual([...tensors.keys()], ['w']);
      const callbacks = (ckpt.root as PickleDict).get('callbacks') as PickleDict;
      const [key] = [...callbacks.map.keys()];
      assert.equal((key as { qualifiedName: string }).qualifiedName, 'pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint');
      assert.ok(!(key instanceof PickleOpaque));
    } finally {
      await ckpt.close();
    }
  });

  describe('refused files', () => {
    it('a checkpoint whose pickle calls os.system: refused by name, with the entry named', async () => {
      const file = path.join(dir, 'evil.ckpt');
      const pkl = new PickleEmitter().proto(2).global('os', 'system').str('echo pwned').raw(0x85).op('R').op('.').bytes();
      await writeTorchZip(file, pkl, new Map());
      const e = await openError(file);
      assert.equal(e.message, `${file}:archive/data.pkl: pickle byte 2: refusing global "os.system": it is not on the ` +
        'allow-list of this reader, which never executes code from a pickle (a PyTorch checkpoint may only use ' +
        'collections.OrderedDict, torch._utils._rebuild_tensor_v2, _rebuild_parameter, torch.*Storage types and data-only ' +
        'names under pytorch_lightning., lightning., lightning_fabric., omegaconf.)');
    });

    it('an unknown global inside the state dict is refused by name', async () => {
      const file = path.join(dir, 'unknown.ckpt');
      const pkl = new PickleEmitter().proto(2).op('}').str('state_dict').global('mypackage.models', 'Net').raw(0x29).op('R').op('s').op('.').bytes();
      await writeTorchZip(file, pkl, new Map());
      assert.match((await openError(file)).message, /refusing global "mypackage\.models\.Net"/);
    });

    it('a storage missing from the zip, too short, or a view past its storage', async () => {
      const t: Array<[string, FakeTensor]> = [['w', { storage: 'FloatStorage', key: '0', shape: [4] }]];
      const missing = path.join(dir, 'missing.ckpt');
      await writeTorchZip(missing, stateDictPickle(t, new Map([['0', 4]])), new Map());
      assert.match((await openError(missing)).message, /storage "0" is referenced by the pickle but the zip has no entry archive\/data\/0/);
      const short = path.join(dir, 'short.ckpt');
      await writeTorchZip(short, stateDictPickle(t, new Map([['0', 4]])), new Map([['0', f32Bytes([1, 2])]]));
      assert.match((await openError(short)).message, /storage "0" \(FloatStorage, 4 elements\) needs 16 bytes but archive\/data\/0 has 8/);
      const past = path.join(dir, 'past.ckpt');
      await writeTorchZip(past, stateDictPickle([['w', { storage: 'FloatStorage', key: '0', shape: [4], offset: 1 }]], new Map([['0', 4]])),
        new Map([['0', f32Bytes([1, 2, 3, 4])]]));
      assert.match((await openError(past)).message, /tensor view \(offset 1, size \[4\], stride \[1\]\) runs past its storage "0" of 4 elements/);
    });

    it('legacy torch.save, a bare pickle, safetensors, an unknown file: says what it is and what to do', async () => {
      const legacy = path.join(dir, 'legacy.ckpt');
      fs.writeFileSync(legacy, Buffer.from('80028a0a6cfc9c46f9206aa8501942', 'hex'));
      assert.match((await openError(legacy)).message, /legacy \(PyTorch < 1\.6, non-zip\) torch\.save checkpoint.*Re-save it in the zip format with PyTorch ≥ 1\.6/);
      const pkl = path.join(dir, 'bare.pkl');
      fs.writeFileSync(pkl, Uint8Array.from([0x80, 4, 0x4e, 0x2e]));
      assert.match((await openError(pkl)).message, /this is a bare pickle, not a torch\.save zip checkpoint/);
      const st = path.join(dir, 'x.safetensors');
      fs.writeFileSync(st, Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]));
      assert.match((await openError(st)).message, /this is a safetensors file, not a PyTorch checkpoint/);
      const html = path.join(dir, 'model.ckpt');
      fs.writeFileSync(html, '<html>Not found</html>');
      assert.match((await openError(html)).message, /not a PyTorch checkpoint: expected a zip archive .* the file starts with 3c 68 74 6d 6c 3e 4e 6f\. Check that the download is complete/);
      assert.equal(detectCheckpointKind(new Uint8Array(0)), 'unknown');
    });

    it('a zip that is not a checkpoint', async () => {
      const file = path.join(dir, 'other.zip');
      await writeTorchZip(file, new Uint8Array([0x80, 2, 0x4e, 0x2e]), new Map(), 'a/b');
      assert.match((await openError(file)).message, /zip has no <folder>\/data\.pkl entry: not a torch\.save checkpoint/);
    });
  });
});
