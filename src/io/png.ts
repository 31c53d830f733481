/**
 * PNG image grids of samples: one row per class, one column per sample. Images come in as values in
 * [-1, 1] (the data sets' scale), [N, H, W, C], row-major by grid cell: C = 3 is RGB, any other C is
 * shown as grey from its first channel (e.g. a latent's).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { ConfigError, FileFormatError } from '../errors';
import { writeFileAtomicSync } from './atomic-write';

export interface ImageGridOptions {
  /** Grid rows (e.g. classes). */
  rows: number;
  /** Grid columns (samples per class). */
  cols: number;
  /** Pixels of background between cells (default 2). */
  padding?: number;
  /** Integer upscaling of every pixel (default 1). */
  scale?: number;
}

/** Maps a value in [-1, 1] to a byte, clipping outside values. */
export function toByte(v: number): number {
  const b = Math.round((v + 1) * 127.5);
  return b < 0 ? 0 : b > 255 ? 255 : b;
}

/**
 * Lays out `rows × cols` images (cell r·cols + c holds image r·cols + c) into one RGBA PNG and returns
 * its encoded bytes.
 */
export function encodeImageGrid(pixels: Float32Array, shape: readonly [number, number, number, number],
  options: ImageGridOptions): Buffer {
  const [n, h, w, c] = shape;
  const { rows, cols } = options;
  const pad = options.padding ?? 2;
  const scale = options.scale ?? 1;
  const problems = [];
  if (!(c >= 1)) problems.push({ path: 'shape.3', message: 'channels must be at least 1', found: String(c) });
  if (rows * cols !== n) {
    problems.push({ path: 'rows×cols', message: 'grid cells must equal the number of images', expected: String(n), found: String(rows * cols) });
  }
  if (pixels.length !== n * h * w * c) {
    problems.push({ path: 'pixels', message: 'pixel count does not match the shape', expected: String(n * h * w * c), found: String(pixels.length) });
  }
  if (!Number.isInteger(scale) || scale < 1) problems.push({ path: 'scale', message: 'scale must be a positive integer', found: String(scale) });
  if (problems.length) throw new ConfigError('image grid', problems);
  const cellW = w * scale;
  const cellH = h * scale;
  const width = cols * cellW + (cols + 1) * pad;
  const height = rows * cellH + (rows + 1) * pad;
  const png = new PNG({ width, height });
  png.data.fill(255);
  for (let img = 0; img < n; img++) {
    const r = Math.floor(img / cols);
    const col = img % cols;
    const x0 = pad + col * (cellW + pad);
    const y0 = pad + r * (cellH + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((img * h + y) * w + x) * c;
        const red = toByte(pixels[src]);
        const green = c === 3 ? toByte(pixels[src + 1]) : red;
        const blue = c === 3 ? toByte(pixels[src + 2]) : red;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const dst = ((y0 + y * scale + dy) * width + (x0 + x * scale + dx)) * 4;
            png.data[dst] = red;
            png.data[dst + 1] = green;
            png.data[dst + 2] = blue;
            png.data[dst + 3] = 255;
          }
        }
      }
    }
  }
  return PNG.sync.write(png);
}

/** Writes a PNG grid to `file`, creating its folder. */
export function writeImageGrid(file: string, pixels: Float32Array, shape: readonly [number, number, number, number],
  options: ImageGridOptions): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomicSync(file, encodeImageGrid(pixels, shape, options));
}

/** Decodes a PNG into RGBA bytes (used by tests and by the report to check what it embeds). */
export function decodePng(bytes: Buffer, file = '<buffer>'): { width: number; height: number; data: Uint8Array } {
  try {
    const png = PNG.sync.read(bytes);
    return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
  } catch (err) {
    throw new FileFormatError(file, `not a readable PNG: ${(err as Error).message}`, { cause: err });
  }
}
