/** The `noise-schedule` node type: registration, config validation (both forms), build, no tensors. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { NodeContext } from '../../src/registry/types';
import { NodeRegistry, registerNodeType } from '../../src/registry/registry';
import { validateNodeConfig } from '../../src/schema/config';
import { NoiseSchedule } from '../../src/diffusion';
import { builtinNodeTypes } from '../index';
import { noiseScheduleNode, type NoiseScheduleNodeConfig } from './index';

const EXAMPLE = path.relative(process.cwd(), path.join(__dirname, '../../docs/examples/cin256-scheduler_config.json'));

function context(config: NoiseScheduleNodeConfig): NodeContext<NoiseScheduleNodeConfig> {
  const logged: unknown[] = [];
  return {
    id: 'schedule',
    config,
    resources: {},
    streams: {},
    container: undefined as never,
    outDir: '/nonexistent',
    runDir: '/nonexistent',
    seed: 0,
    resume: false,
    log: { info: (m, f) => logged.push([m, f]), warn: (m, f) => logged.push([m, f]), metrics: () => undefined, image: () => undefined },
    signal: new AbortController().signal,
    progress: () => ({ update: () => undefined, done: () => undefined }),
  };
}

describe('nodes/noise-schedule', () => {
  it('registers as a built-in through the public call', () => {
    assert.ok(builtinNodeTypes.includes(noiseScheduleNode));
    const registry = new NodeRegistry();
    registerNodeType(registry, noiseScheduleNode, 'built-in');
    assert.equal(registry.get('noise-schedule'), noiseScheduleNode);
  });

  it('validates a camelCase config and builds the schedule it describes (cin256 numbers)', async () => {
    const { config, problems } = validateNodeConfig(noiseScheduleNode, { betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, setAlphaToOne: false, stepsOffset: 1 });
    assert.deepEqual(problems, []);
    const before = tf.memory().numTensors;
    const instance = await noiseScheduleNode.create(context(config as NoiseScheduleNodeConfig));
    const schedule = instance.resources?.schedule as NoiseSchedule;
    assert.ok(schedule instanceof NoiseSchedule);
    assert.ok(Math.abs(schedule.alphasCumprod[0] - 0.9985) < 1e-7);
    assert.equal(schedule.inferenceSchedule(64).timesteps[0], 946);
    assert.equal(tf.memory().numTensors, before);
  });

  it('diffusersConfig: loads the docs example file, the same schedule as the camelCase form', async () => {
    const { config, problems } = validateNodeConfig(noiseScheduleNode, { diffusersConfig: EXAMPLE });
    assert.deepEqual(problems, []);
    const instance = await noiseScheduleNode.create(context(config as NoiseScheduleNodeConfig));
    const fromFile = instance.resources?.schedule as NoiseSchedule;
    const direct = NoiseSchedule.fromConfig({ betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, setAlphaToOne: false, stepsOffset: 1 });
    assert.deepEqual(fromFile.toConfig(), direct.toConfig());
    assert.deepEqual(fromFile.alphasCumprod, direct.alphasCumprod);
  });

  it('reports unknown keys, cross-field problems, diffusersConfig mixed with keys, and bad files — before anything runs', () => {
    const unknown = validateNodeConfig(noiseScheduleNode, { betaShedule: 'linear' });
    assert.equal(unknown.problems.length, 1);
    assert.equal(unknown.problems[0].path, 'betaShedule');
    const cross = validateNodeConfig(noiseScheduleNode, { betaStart: 0.03, betaEnd: 0.02 });
    assert.deepEqual(cross.problems.map((p) => [p.path, p.message]), [['betaEnd', 'must be ≥ betaStart (0.03)']]);
    const mixed = validateNodeConfig(noiseScheduleNode, { diffusersConfig: EXAMPLE, stepsOffset: 1 });
    assert.deepEqual(mixed.problems.map((p) => [p.path, p.message]), [['stepsOffset', 'cannot be combined with diffusersConfig (the file is the whole config; found stepsOffset)']]);
    const missing = validateNodeConfig(noiseScheduleNode, { diffusersConfig: 'no/such/scheduler_config.json' });
    assert.equal(missing.problems.length, 1);
    assert.equal(missing.problems[0].path, 'diffusersConfig');
    assert.match(missing.problems[0].message, /no\/such\/scheduler_config\.json: cannot read the schedule config: ENOENT$/);
  });

  it('passes the problems of an unsupported diffusers file through, under diffusersConfig', () => {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'noise-schedule-'));
    const file = path.join(dir, 'scheduler_config.json');
    fs.writeFileSync(file, JSON.stringify({ _class_name: 'DDIMScheduler', thresholding: true }));
    try {
      const { problems } = validateNodeConfig(noiseScheduleNode, { diffusersConfig: file });
      assert.deepEqual(problems.map((p) => [p.path, p.message]), [['diffusersConfig.thresholding', 'dynamic thresholding is not supported by Distillery']]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
