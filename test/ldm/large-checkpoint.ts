/**
 * Peak-memory measurement of `import ldm` on a full-size checkpoint (not a mocha test: it writes GBs).
 *
 *   npx tsx test/ldm/large-checkpoint.ts generate docs/examples/cin256-v2.yaml /tmp/cin256-big.ckpt --ema
 *   npx tsx test/ldm/large-checkpoint.ts import docs/examples/cin256-v2.yaml /tmp/cin256-big.ckpt /tmp/cin256-big
 *
 * `generate` streams a torch.save-format zip with the real architecture's names and shapes (random
 * values; with --ema also a `model_ema.*` copy of the UNet, as a training checkpoint has), one tensor in
 * memory at a time. `import` runs the importer in this process and prints the peak resident set size
 * (process.resourceUsage().maxRSS) next to the largest tensor and the total written.
 */
import * as fs from 'node:fs';
import { readLdmYaml } from '../../src/io/ldm-yaml';
import { importLdmCheckpoint, emaBufferName, ldmAlphasCumprod } from '../../src/ldm/import';
import { CLASS_EMBEDDER_WEIGHT, unetParameterShapes } from '../../src/models/unet';
import { vqParameterShapes } from '../../src/models/vq';
import { stateDictPickle, writeStoredZip, type FakeTensor } from '../io/torch-zip-writer';

function* randomChunks(numel: number, seed: number): Generator<Uint8Array> {
  let s = seed >>> 0 || 1;
  const chunk = 1 << 20;
  for (let done = 0; done < numel; done += chunk) {
    const n = Math.min(chunk, numel - done);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      a[i] = (s / 4294967296 - 0.5) * 0.02;
    }
    yield new Uint8Array(a.buffer);
  }
}

async function generate(yaml: string, file: string, ema: boolean): Promise<void> {
  const spec = readLdmYaml(yaml);
  const tensors: Array<{ name: string; shape: number[]; values?: Float32Array }> = [];
  for (const [n, shape] of unetParameterShapes(spec.unet)) {
    if (n === CLASS_EMBEDDER_WEIGHT) continue;
    tensors.push({ name: `model.diffusion_model.${n}`, shape });
    if (ema) tensors.push({ name: emaBufferName(n), shape });
  }
  for (const [n, shape] of vqParameterShapes(spec.firstStage)) tensors.push({ name: `first_stage_model.${n}`, shape });
  tensors.push({ name: CLASS_EMBEDDER_WEIGHT, shape: [spec.classEmbedder.n_classes, spec.classEmbedder.embed_dim] });
  tensors.push({ name: 'alphas_cumprod', shape: [spec.scheduler.num_train_timesteps], values: Float32Array.from(ldmAlphasCumprod(spec.scheduler)) });
  const refs: Array<[string, FakeTensor]> = [];
  const numel = new Map<string, number>();
  let total = 0;
  tensors.forEach((t, i) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    refs.push([t.name, { storage: 'FloatStorage', key: String(i), shape: t.shape }]);
    numel.set(String(i), n);
    total += n * 4;
  });
  const pkl = stateDictPickle(refs, numel, 1);
  await writeStoredZip(file, [
    { name: 'archive/data.pkl', size: pkl.length, produce: () => pkl },
    ...tensors.map((t, i) => ({
      name: `archive/data/${i}`,
      size: (numel.get(String(i)) as number) * 4,
      produce: () => (t.values ? new Uint8Array(t.values.buffer) : randomChunks(numel.get(String(i)) as number, i + 1)),
    })),
    { name: 'archive/version', size: 2, produce: () => Buffer.from('3\n') },
  ]);
  console.log(`wrote ${file}: ${tensors.length} tensors, ${(total / 2 ** 30).toFixed(2)} GiB of storages`);
}

async function runImport(yaml: string, file: string, out: string): Promise<void> {
  const t0 = Date.now();
  let sampledPeak = 0;
  const timer = setInterval(() => { sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss); }, 50);
  const r = await importLdmCheckpoint({ config: yaml, ckpt: file, out, log: (l) => console.log(l) });
  clearInterval(timer);
  const written = r.files.reduce((s, f) => s + fs.statSync(f).size, 0);
  const spec = readLdmYaml(yaml);
  let largest = 0;
  for (const s of unetParameterShapes(spec.unet).values()) largest = Math.max(largest, s.reduce((a, b) => a * b, 1) * 4);
  for (const s of vqParameterShapes(spec.firstStage).values()) largest = Math.max(largest, s.reduce((a, b) => a * b, 1) * 4);
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(`weights: ${r.weights}; checkpoint ${mib(fs.statSync(file).size)}, written ${mib(written)}, largest tensor ${mib(largest)}`);
  console.log(`peak RSS ${mib(process.resourceUsage().maxRSS * 1024)} (sampled every 50 ms: ${mib(sampledPeak)}), ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function cli(): Promise<void> {
  const [mode, yaml, file, third] = process.argv.slice(2);
  if (mode === 'generate') await generate(yaml, file, third === '--ema');
  else if (mode === 'import') await runImport(yaml, file, third);
  else throw new Error('usage: large-checkpoint.ts generate <yaml> <ckpt> [--ema] | import <yaml> <ckpt> <out>');
}

void cli();
