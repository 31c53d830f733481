/**
 * Labelled image data sets from IDX files (MNIST, Fashion-MNIST, …): images [N, H, W] uint8 and
 * labels [N] uint8, scaled to [-1, 1] and optionally padded.
 */
import { ConfigError } from '../errors';
import { readIdx } from '../io/idx';
import { checkDataset, type ArrayDataset } from './dataset';

export interface IdxDatasetOptions {
  images: string;
  labels: string;
  /** Output size; images are centred on a background of -1 (default: the file's own size). */
  padTo?: number;
  /** Keep only the first `limit` examples. */
  limit?: number;
}

export function loadIdxDataset(options: IdxDatasetOptions): ArrayDataset {
  const images = readIdx(options.images);
  const labels = readIdx(options.labels);
  if (images.shape.length !== 3 && !(images.shape.length === 4 && (images.shape[3] === 1 || images.shape[3] === 3))) {
    throw new ConfigError('IDX data set', [{ path: 'images', message: `${options.images}: images must be [N, H, W] or [N, H, W, C]`, found: `[${images.shape.join(', ')}]` }]);
  }
  if (labels.shape.length !== 1 || labels.shape[0] !== images.shape[0]) {
    throw new ConfigError('IDX data set', [{ path: 'labels', message: `${options.labels}: labels must be [N] with N = ${images.shape[0]}`, found: `[${labels.shape.join(', ')}]` }]);
  }
  const [n0, h, w] = images.shape;
  const c = images.shape[3] ?? 1;
  const n = Math.min(n0, options.limit ?? n0);
  const size = options.padTo ?? h;
  const padY = (size - h) / 2;
  const padX = (size - w) / 2;
  if (!Number.isInteger(padY) || padY < 0 || !Number.isInteger(padX) || padX < 0) {
    throw new ConfigError('IDX data set', [{ path: 'padTo', message: 'output size must be at least the image size and differ from it by an even number', expected: `≥ ${Math.max(h, w)}`, found: String(size) }]);
  }
  // Float files are taken to be in [0, 1]; integer files in [0, 255].
  const scale = images.data instanceof Float32Array || images.data instanceof Float64Array ? 1 : 255;
  const x = new Float32Array(n * size * size * c).fill(-1);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let col = 0; col < w; col++) {
        for (let ch = 0; ch < c; ch++) {
          const v = images.data[((i * h + y) * w + col) * c + ch] / scale;
          x[((i * size + y + padY) * size + col + padX) * c + ch] = 2 * v - 1;
        }
      }
    }
  }
  const lab = new Int32Array(n);
  for (let i = 0; i < n; i++) lab[i] = labels.data[i];
  return checkDataset({ x, shape: [n, size, size, c], labels: lab }, 'IDX data set');
}
