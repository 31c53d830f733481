/**
 * `distillery import ldm --config <yaml> --ckpt <model.ckpt> --out <folder> [--weights auto|ema|model]`:
 * a latent-diffusion checkpoint into a Distillery model folder (src/ldm/import.ts), with a summary of
 * what was taken and what was skipped.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors';
import { importLdmCheckpoint, type ImportLdmResult, type WeightsChoice } from '../../ldm/import';
import { EXIT_OK, type CliIO } from '../io';

export interface ImportLdmCommandOptions {
  config: string;
  ckpt: string;
  out: string;
  weights?: string;
}

/** The summary printed after an import. */
export function formatImportSummary(r: ImportLdmResult, out: string): string {
  const m = r.model;
  const lines = [
    `imported into ${out}`,
    `  UNet weights: ${r.weights === 'ema' ? 'EMA (model_ema.*)' : 'model.diffusion_model.* (the checkpoint has no EMA weights, or --weights model)'}` +
      `${r.globalStep !== null ? `, global_step ${r.globalStep}` : ''}`,
    `  tensors: unet ${r.counts.unet}, first stage ${r.counts.firstStage}, class embedder ${r.counts.classEmbedder}`,
    `  image ${m.imageSize}x${m.imageSize} → latent [${m.latentShape.join(', ')}], scale factor ${m.scaleFactor}`,
    `  schedule: scaled_linear ${m.unet.config.prediction_type} (see ${m.scheduler})` +
      (r.scheduleMaxAbsDiff !== null ? `; matches the checkpoint's alphas_cumprod to ${r.scheduleMaxAbsDiff.toExponential(1)}` : ''),
  ];
  if (r.skippedKeys.length) lines.push(`  skipped state-dict keys (${r.skippedKeys.length}): ${summarizeKeys(r.skippedKeys)}`);
  if (r.skippedTopLevel.length) lines.push(`  not loaded (training state): ${r.skippedTopLevel.join(', ')}`);
  if (r.ignoredConfig.length) lines.push(`  YAML keys ignored as training-only: ${r.ignoredConfig.join(', ')}`);
  for (const f of r.files) lines.push(`  wrote ${f}`);
  return lines.join('\n') + '\n';
}

function summarizeKeys(keys: string[]): string {
  const groups = new Map<string, number>();
  for (const k of keys) {
    const g = k.startsWith('model.diffusion_model.') ? 'model.diffusion_model.* (non-EMA copy)' : k.startsWith('model_ema.') ? 'model_ema.*' : k;
    groups.set(g, (groups.get(g) ?? 0) + 1);
  }
  return [...groups].map(([g, n]) => (n > 1 ? `${g} (${n})` : g)).join(', ');
}

function parseWeights(v: string | undefined): WeightsChoice {
  if (v === undefined) return 'auto';
  if (v === 'auto' || v === 'ema' || v === 'model') return v;
  throw new UsageError(`--weights must be auto, ema or model (found ${JSON.stringify(v)})`);
}

/** Adds `import ldm`. */
export function registerImportCommand(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  const imp = program.command('import').description('import models from other frameworks');
  imp
    .command('ldm')
    .description('import a latent-diffusion checkpoint (model.ckpt + its YAML) into a model folder: UNet, VQ first stage, class embedder, scheduler config')
    .requiredOption('--config <yaml>', 'the latent-diffusion YAML the checkpoint was trained with (e.g. cin256-v2.yaml)')
    .requiredOption('--ckpt <file>', 'the PyTorch checkpoint (torch.save zip format, PyTorch ≥ 1.6); its pickle is read, never executed')
    .requiredOption('--out <folder>', 'output model folder (created if needed)')
    .option('--weights <which>', 'UNet weights: auto (EMA when present), ema or model', 'auto')
    .action(async (options: ImportLdmCommandOptions) => {
      const weights = parseWeights(options.weights);
      const result = await importLdmCheckpoint({ config: options.config, ckpt: options.ckpt, out: options.out, weights, log: (l) => io.err(l + '\n') });
      io.out(formatImportSummary(result, options.out));
      setExit(EXIT_OK);
    });
  return imp;
}
