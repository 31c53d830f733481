/**
 * Image folders in ImageNet's layout: one sub-folder per class (named by its WordNet id, e.g.
 * `n01440764/`), and a class-index mapping file that gives each folder its label:
 *   - text (ImageNet's LOC_synset_mapping.txt): one class per line, `<folder> <description>`; the line
 *     number (from 0) is the label;
 *   - JSON (imagenet_class_index.json): `{"0": ["n01440764", "tench"], …}`.
 *
 * Images are decoded from their bytes (JPEG with jpeg-js, PNG with pngjs; the extension is not trusted,
 * as ImageNet holds a few PNGs named .JPEG), then resized so the shorter side is `size` and
 * center-cropped to size × size — the reference ImageNet loader's SmallestMaxSize + CenterCrop. The
 * resize is bilinear with half-pixel centres and no antialiasing (OpenCV's INTER_LINEAR, what
 * SmallestMaxSize uses by default); the resized side is round(side · size / shorter side) with
 * Python's round-half-to-even; resized values are rounded to whole 8-bit levels as the reference's uint8
 * output is (OpenCV's fixed-point weights can differ from these exact ones by one level). Pixels become
 * [−1, 1] as x / 127.5 − 1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { FileFormatError, UsageError } from '../errors';

/** File name endings treated as images (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.jpeg', '.jpg', '.png'] as const;

/** Label by folder name, in label order. */
export interface ClassIndex {
  folders: string[];
  labelOf: Map<string, number>;
}

/** Reads a class-index mapping file (text or JSON, see the module comment). */
export function readClassIndex(file: string): ClassIndex {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new FileFormatError(file, `cannot read the class-index file: ${(e as Error).message}`, { cause: e });
  }
  const folders: string[] = [];
  if (file.toLowerCase().endsWith('.json')) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new FileFormatError(file, `invalid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new FileFormatError(file, 'expected {"0": ["n01440764", "tench"], …}');
    const entries = Object.entries(raw as Record<string, unknown>);
    for (const [k, v] of entries) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0 || i >= entries.length || !Array.isArray(v) || typeof v[0] !== 'string') {
        throw new FileFormatError(file, `entry ${JSON.stringify(k)}: expected an index 0 … ${entries.length - 1} mapped to [folder, description]`);
      }
      folders[i] = v[0];
    }
  } else {
    text.split(/\r?\n/).forEach((line) => {
      const folder = line.trim().split(/\s+/)[0];
      if (folder) folders.push(folder);
    });
  }
  if (folders.length === 0) throw new FileFormatError(file, 'the class-index file lists no classes');
  const labelOf = new Map<string, number>();
  folders.forEach((f, i) => {
    if (labelOf.has(f)) throw new FileFormatError(file, `class folder "${f}" is listed twice (labels ${labelOf.get(f)} and ${i})`);
    labelOf.set(f, i);
  });
  return { folders, labelOf };
}

/** One image of the data set. */
export interface LabelledImage {
  file: string;
  label: number;
}

/**
 * Every image under `root`, ordered by label and then by file name, so that the order (and with it the
 * shard contents) is the same on every run. Sub-folders the mapping does not know are an error;
 * mapped classes without a folder are allowed (a subset of ImageNet). `perClass` keeps the first N
 * images of each class.
 */
export function listImageFolder(root: string, classes: ClassIndex, options: { perClass?: number } = {}): LabelledImage[] {
  let dirs: fs.Dirent[];
  try {
    dirs = fs.readdirSync(root, { withFileTypes: true });
  } catch (e) {
    throw new FileFormatError(root, `cannot read the image folder: ${(e as Error).message}`, { cause: e });
  }
  const subfolders = dirs.filter((d) => d.isDirectory()).map((d) => d.name);
  const unknown = subfolders.filter((d) => !classes.labelOf.has(d));
  if (unknown.length) {
    throw new UsageError(`${root}: ${unknown.length} sub-folder${unknown.length === 1 ? ' is' : 's are'} not in the class-index file: ` +
      `${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''} (ImageNet layout: one folder per class, named as in the mapping)`);
  }
  if (subfolders.length === 0) throw new UsageError(`${root}: no class sub-folders (ImageNet layout: <root>/<class folder>/<image>)`);
  const out: LabelledImage[] = [];
  for (const folder of subfolders.sort((a, b) => (classes.labelOf.get(a) as number) - (classes.labelOf.get(b) as number))) {
    const label = classes.labelOf.get(folder) as number;
    let files = fs.readdirSync(path.join(root, folder))
      .filter((f) => IMAGE_EXTENSIONS.some((e) => f.toLowerCase().endsWith(e)))
      .sort();
    if (options.perClass !== undefined) files = files.slice(0, options.perClass);
    for (const f of files) out.push({ file: path.join(root, folder, f), label });
  }
  if (out.length === 0) throw new UsageError(`${root}: the class folders hold no .jpeg/.jpg/.png images`);
  return out;
}

/** Decoded RGB pixels, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decodes a JPEG or PNG from its bytes (by signature, not by name) into RGB (alpha dropped, grey expanded). */
export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  let rgba: Uint8Array;
  let width: number;
  let height: number;
  try {
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      ({ width, height } = img);
      rgba = img.data;
    } else if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
      const img = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      ({ width, height } = img);
      rgba = img.data;
    } else {
      throw new Error(`not a JPEG or PNG (starts with ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')})`);
    }
  } catch (e) {
    throw new FileFormatError(file, `cannot decode image: ${(e as Error).message}`, { cause: e });
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    data[i * 3] = rgba[j];
    data[i * 3 + 1] = rgba[j + 1];
    data[i * 3 + 2] = rgba[j + 2];
  }
  return { width, height, data };
}

/** Python's round(): half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Shorter side to `size` (bilinear, half-pixel centres, no antialiasing) then the central size × size
 * crop, as float32 HWC in [−1, 1]. Only the cropped pixels are computed.
 */
export function resizeCenterCrop(img: RgbImage, size: number): Float32Array {
  const { width: w, height: h, data } = img;
  const scale = size / Math.min(w, h);
  const nw = scale === 1 ? w : roundHalfEven(w * scale);
  const nh = scale === 1 ? h : roundHalfEven(h * scale);
  if (nw < size || nh < size) throw new FileFormatError('<image>', `resized to ${nw}x${nh}, smaller than the ${size}x${size} crop`);
  const x0 = Math.floor((nw - size) / 2);
  const y0 = Math.floor((nh - size) / 2);
  const fx = w / nw;
  const fy = h / nh;
  const out = new Float32Array(size * size * 3);
  // Source coordinates per output column / row, with OpenCV's clamping at the borders.
  const taps = (n: number, f: number, offset: number, max: number): { i0: Int32Array; i1: Int32Array; t: Float32Array } => {
    const i0 = new Int32Array(n);
    const i1 = new Int32Array(n);
    const t = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      let s = (k + offset + 0.5) * f - 0.5;
      let a = Math.floor(s);
      let frac = s - a;
      if (a < 0) {
        a = 0;
        frac = 0;
        s = 0;
      }
      if (a >= max - 1) {
        a = max - 1;
        frac = 0;
      }
      i0[k] = a;
      i1[k] = Math.min(a + 1, max - 1);
      t[k] = frac;
    }
    return { i0, i1, t };
  };
  const cx = taps(size, fx, x0, w);
  const cy = taps(size, fy, y0, h);
  for (let y = 0; y < size; y++) {
    const r0 = cy.i0[y] * w * 3;
    const r1 = cy.i1[y] * w * 3;
    const ty = cy.t[y];
    for (let x = 0; x < size; x++) {
      const c0 = cx.i0[x] * 3;
      const c1 = cx.i1[x] * 3;
      const tx = cx.t[x];
      for (let c = 0; c < 3; c++) {
        const top = data[r0 + c0 + c] * (1 - tx) + data[r0 + c1 + c] * tx;
        const bottom = data[r1 + c0 + c] * (1 - tx) + data[r1 + c1 + c] * tx;
        // The reference resizes uint8 images (and gets uint8 back): round to the nearest level.
        out[(y * size + x) * 3 + c] = Math.round(top * (1 - ty) + bottom * ty) / 127.5 - 1;
      }
    }
  }
  return out;
}

/** Reads, decodes, resizes and crops one image file. */
export async function loadImage(file: string, size: number): Promise<Float32Array> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    throw new FileFormatError(file, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  const img = decodeImage(bytes, file);
  try {
    return resizeCenterCrop(img, size);
  } catch (e) {
    if (e instanceof FileFormatError) throw new FileFormatError(file, e.message.replace(/^<image>: /, ''));
    throw e;
  }
}
