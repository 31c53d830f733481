/**
 * ImageNet-layout folders: class-index files (text and JSON), the fixed image order, JPEG/PNG decoding
 * by signature, and the resize + center crop (hand-computed bilinear values with half-pixel centres).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  decodeImage, listImageFolder, readClassIndex, resizeCenterCrop, roundHalfEven, type RgbImage,
} from '../../src/ldm/imagenet-folder';
import { jpegBytes, pngBytes } from './helpers';

function grey(width: number, height: number, values: number[]): RgbImage {
  return { width, height, data: Uint8Array.from(values.flatMap((v) => [v, v, v])) };
}

/** Back from [−1, 1] to 8-bit levels, channel 0. */
function levels(x: Float32Array): number[] {
  return Array.from(x.filter((_, i) => i % 3 === 0), (v) => Math.round((v + 1) * 127.5));
}

describe('ldm/imagenet-folder', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-imagenet-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads LOC_synset_mapping.txt (line = label) and imagenet_class_index.json', () => {
    const txt = path.join(dir, 'LOC_synset_mapping.txt');
    fs.writeFileSync(txt, 'n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\r\nn01484850 great white shark\n');
    const a = readClassIndex(txt);
    assert.deepEqual(a.folders, ['n01440764', 'n01443537', 'n01484850']);
    assert.equal(a.labelOf.get('n01484850'), 2);
    const json = path.join(dir, 'imagenet_class_index.json');
    fs.writeFileSync(json, JSON.stringify({ 1: ['n01443537', 'goldfish'], 0: ['n01440764', 'tench'] }));
    assert.deepEqual(readClassIndex(json).folders, ['n01440764', 'n01443537']);
    fs.writeFileSync(txt, 'n1 a\nn1 b\n');
    assert.throws(() => readClassIndex(txt), /class folder "n1" is listed twice \(labels 0 and 1\)/);
  });

  it('lists images by label then name, keeps a per-class prefix, refuses folders the mapping does not know', () => {
    const root = path.join(dir, 'train');
    const classes = path.join(dir, 'classes.txt');
    fs.writeFileSync(classes, 'nB b\nnA a\nnC c\n');
    for (const [folder, files] of [['nA', ['2.JPEG', '1.png', 'notes.txt']], ['nB', ['x.jpg']]] as const) {
      fs.mkdirSync(path.join(root, folder), { recursive: true });
      for (const f of files) fs.writeFileSync(path.join(root, folder, f), '');
    }
    const list = listImageFolder(root, readClassIndex(classes));
    assert.deepEqual(list.map((i) => [path.relative(root, i.file), i.label]), [['nB/x.jpg', 0], ['nA/1.png', 1], ['nA/2.JPEG', 1]]);
    assert.equal(listImageFolder(root, readClassIndex(classes), { perClass: 1 }).length, 2);
    fs.mkdirSync(path.join(root, 'nZ'));
    assert.throws(() => listImageFolder(root, readClassIndex(classes)), /1 sub-folder is not in the class-index file: nZ \(ImageNet layout/);
  });

  it('decodes PNG and JPEG by signature, whatever the extension; other bytes are named', () => {
    const png = decodeImage(pngBytes(3, 2, (x, y) => [x * 10, y * 20, 7]), 'a.JPEG');
    assert.deepEqual([png.width, png.height], [3, 2]);
    assert.deepEqual(Array.from(png.data.subarray(15, 18)), [20, 20, 7]);
    const jpg = decodeImage(jpegBytes(8, 8, () => [200, 100, 50]), 'b.jpg');
    assert.deepEqual([jpg.width, jpg.height], [8, 8]);
    // JPEG is lossy: a flat colour comes back within a couple of levels.
    for (const [c, want] of [[0, 200], [1, 100], [2, 50]]) assert.ok(Math.abs(jpg.data[c] - want) <= 3, `${c}: ${jpg.data[c]}`);
    assert.throws(() => decodeImage(Uint8Array.from([0x47, 0x49, 0x46, 0x38]), 'c.jpg'), /c\.jpg: cannot decode image: not a JPEG or PNG \(starts with 47 49 46 38\)/);
  });

  it('resize: shorter side to size with bilinear half-pixel sampling, then the centre crop (hand-computed)', () => {
    // 4x2 → size 2: scale 1, crop columns 1 … 2.
    assert.deepEqual(levels(resizeCenterCrop(grey(4, 2, [0, 10, 20, 30, 40, 50, 60, 70]), 2)), [10, 20, 50, 60]);
    // 2x2 → 4x4: source x = (k + 0.5)/2 − 0.5 → −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    assert.deepEqual(levels(resizeCenterCrop(grey(2, 2, [0, 100, 0, 100]), 4)).slice(0, 4), [0, 25, 75, 100]);
    // 4x4 → 2x2: source x = 0.5 and 2.5, the mean of each pair (no antialiasing beyond that).
    const row = [0, 100, 200, 40];
    assert.deepEqual(levels(resizeCenterCrop(grey(4, 4, [...row, ...row, ...row, ...row]), 2)), [50, 120, 50, 120]);
    // 6x3 → size 2: width round(6 · 2/3) = 4, crop x0 = 1.
    assert.equal(roundHalfEven(2.5), 2);
    assert.equal(roundHalfEven(3.5), 4);
    assert.equal(resizeCenterCrop(grey(6, 3, new Array(18).fill(255)), 2).length, 12);
    assert.ok(resizeCenterCrop(grey(6, 3, new Array(18).fill(255)), 2).every((v) => v === 1));
  });
});
