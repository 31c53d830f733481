/**
 * `report`: turns evaluation metrics into `runs/NAME/report.html` (self-contained: teacher and student
 * grids side by side per step count as data URIs, FID and accuracy charts as inline SVG, each stage's
 * training curves and validation grids read from the run's logs.jsonl), `runs/NAME/metrics.json`, and a one-screen summary printed
 * at the end of the run.
 */
import * as path from 'node:path';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { EvaluationMetrics } from '../../src/report/metrics';
import { renderSummary, writeReport } from '../../src/report/report';
import { readRunLogs, RUN_LOGS_FILE } from '../../src/report/curves';
import schema from './schema.json';

export interface ReportConfig {
  title?: string;
  print: boolean;
  notes?: Record<string, string | number>;
}

export function reportConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'report node config',
    description: 'The run report: report.html and metrics.json in the run folder, and a console summary.',
    type: 'object',
    additionalProperties: false,
    properties: {
      title: { type: 'string', description: 'Report title (default: the metrics\' title).' },
      print: { type: 'boolean', default: true, description: 'Print the one-screen summary to standard output at the end.' },
      notes: { type: 'object', additionalProperties: { type: ['string', 'number'] }, description: 'Facts shown under "Run" in the report (e.g. what the graph trained).' },
    },
  };
}

export const reportNode = defineNodeType<ReportConfig>({
  type: 'report',
  description: 'Write report.html (grids, FID/accuracy charts) and metrics.json into the run folder; print a summary',
  configSchema: schema as JsonSchema,
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
