/**
 * `report`: turns evaluation metrics into `runs/NAME/report.html` (self-contained: teacher and student
 * grids side by side per step count as data URIs, FID and accuracy charts as inline SVG, each stage's
 * training curves and validation grids read from the run's logs.jsonl), `runs/NAME/metrics.json`, and a one-screen summary printed
 * at the end of the run.
 */
import * as path from 'node:path';
import { defineNodeType } from '../../src/registry/types';
import type { EvaluationMetrics } from '../../src/report/metrics';
import { renderSummary, writeReport } from '../../src/report/report';
import { readRunLogs, RUN_LOGS_FILE } from '../../src/report/curves';
import { configSchema, type ReportConfig } from './config';
export type { ReportConfig } from './config';

export const reportNode = defineNodeType<ReportConfig>({
  type: 'report',
  description: 'Write report.html (grids, FID/accuracy charts) and metrics.json into the run folder; print a summary',
  configSchema,
  inputs: {
    metrics: { kind: 'resource', type: 'metrics', description: 'The numbers of an evaluate node.' },
  },
  outputs: {},
  create(ctx) {
    return {
      async run() {
        const source = ctx.resources.metrics as EvaluationMetrics;
        const metrics: EvaluationMetrics = {
          ...source,
          ...(ctx.config.title ? { title: ctx.config.title } : {}),
          notes: { ...(source.notes ?? {}), ...(ctx.config.notes ?? {}) },
        };
        const logs = readRunLogs(path.join(ctx.runDir, RUN_LOGS_FILE));
        const { html, json } = writeReport(metrics, ctx.runDir, ctx.runDir, logs);
        ctx.log.info(`report written: ${path.relative(process.cwd(), html)} and ${path.relative(process.cwd(), json)}`);
        if (ctx.config.print) process.stdout.write(`\n${renderSummary(metrics)}\n\n`);
      },
    };
  },
});
