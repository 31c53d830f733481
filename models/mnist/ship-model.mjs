#!/usr/bin/env node
// Copies a model file written by a training graph into models/mnist/ and writes its manifest:
//   node models/mnist/ship-model.mjs <name> <run folder> <node id> "<command that produced the run>"
// The manifest records the graph, command, seed, iterations, final losses and the training curve (every
// logged step's metrics from the run's logs.jsonl), backend, wall time and the sha256 of the shipped file.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const [name, runDir, nodeId, command] = process.argv.slice(2);
if (!name || !runDir || !nodeId || !command) {
  process.stderr.write('usage: node models/mnist/ship-model.mjs <name> <run folder> <node id> "<command>"\n');
  process.exit(2);
}
const here = path.dirname(new URL(import.meta.url).pathname);
const source = path.join(runDir, nodeId, 'model.safetensors');
const target = path.join(here, `${name}.safetensors`);
fs.copyFileSync(source, target);
const bytes = fs.readFileSync(target);
const manifest = JSON.parse(fs.readFileSync(path.join(runDir, 'manifest.json'), 'utf8'));
const modelJson = JSON.parse(fs.readFileSync(path.join(runDir, nodeId, 'model.json'), 'utf8'));
const logs = fs.readFileSync(path.join(runDir, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const metrics = logs.filter((l) => l.kind === 'metrics' && l.node === nodeId);
const last = [...metrics].reverse().find((m) => m.values.loss !== undefined);
const lastEval = [...metrics].reverse().find((m) => m.values.evalLoss !== undefined);
const info = logs.filter((l) => l.kind === 'log' && l.node === nodeId).map((l) => l.message);
const { config, ...facts } = modelJson;
const out = {
  file: `${name}.safetensors`,
  sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
  bytes: bytes.length,
  graph: path.relative(process.cwd(), manifest.graph.file),
  command,
  seed: manifest.graph.seed,
  nodeSeed: Number(facts.seed),
  iterations: Number(facts.iterations),
  finalTrainingLoss: last?.values.loss,
  finalStep: last?.step,
  ...(lastEval ? { finalEvalLoss: lastEval.values.evalLoss, finalEvalStep: lastEval.step } : {}),
  facts,
  log: info,
  // The training curve: every metrics record the node logged (loss, lr, evalLoss, … at its step).
  curve: metrics.map((m) => ({ step: m.step, ...m.values })),
  backend: manifest.backend.description,
  startedAt: manifest.startedAt,
  endedAt: manifest.endedAt,
  wallSeconds: Math.round((Date.parse(manifest.endedAt) - Date.parse(manifest.startedAt)) / 1000),
  config,
};
fs.writeFileSync(path.join(here, `${name}.json`), JSON.stringify(out, null, 2) + '\n');
process.stdout.write(`${target}: ${out.bytes} bytes, sha256 ${out.sha256}\n`);
