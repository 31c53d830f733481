/**
 * The conformance suite every node type passes — built-ins (nodes/index.ts) and plugins alike. Import it
 * from `distillery/testing` and run it in your own tests:
 *
 *   import { describeConformance } from 'distillery/testing';
 *   describeConformance(myNode, { config: { … }, inputs: () => ({ … }) }, { folder: __dirname });
 *
 * What it checks (each a separate test):
 *   - schema: the config schema is a closed object (additionalProperties false at every level), every key
 *     has a description, the defaults pass the schema, and resolving the fixture config fills every default;
 *   - docs (with `folder`): the folder's schema.json is the generated one, its README starts with the type,
 *     documents every port and holds the generated config table (`npm run schemas` writes both);
 *   - round trip: load → resolve defaults → serialise (JSON) → load gives the same config;
 *   - located problem: a graph whose node config has an unknown key is refused with the key's file:line:col
 *     and JSON path;
 *   - lifecycle (with `inputs`): create → run on tiny inputs → dispose, with tf.memory().numTensors back
 *     where it started;
 *   - cancel and resume (with `resumable`): cancelled at its second progress step, the node saves its state
 *     (a checkpoint under its folder) and, created again with resume, continues past that step and finishes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { isObservable, take, lastValueFrom, toArray, type Observable } from 'rxjs';
import { DistilleryError } from '../errors';
import { validateGraphText } from '../graph/validate';
import { NodeRegistry } from '../registry/registry';
import type { NodeInstance, NodeTypeDefinition } from '../registry/types';
import { validateNodeConfig } from '../schema/config';
import { configTableMarkdown, CONFIG_TABLE_BEGIN, CONFIG_TABLE_END } from '../schema/node-docs';
import { renderConfigSchema } from '../schema/typebox';
import { nodeContext } from './context';

export interface ConformanceInputs {
  resources?: Record<string, unknown>;
  streams?: Record<string, Observable<unknown>>;
  /** Releases what the inputs hold (models, data sets), after the node is disposed. */
  dispose?: () => void | Promise<void>;
}

export interface ConformanceFixture {
  /** A valid config as a user writes it (before defaults); `{}` when omitted. */
  config?: Record<string, unknown>;
  /** Fresh tiny inputs for one create → run → dispose; without it the lifecycle checks are skipped. */
  inputs?: () => ConformanceInputs | Promise<ConformanceInputs>;
  /** Items taken from each stream output (streams may be endless); default 2. */
  streamItems?: number;
  /** The node checkpoints and resumes (training stages): run the cancel-and-resume check. */
  resumable?: boolean;
}

export interface ConformanceOptions {
  /** The node's folder (holding config.ts, schema.json and README.md): adds the docs check. */
  folder?: string;
}

export interface ConformanceCheck {
  name: string;
  run(): Promise<void>;
}

/** A failed conformance check: names the node type and what differs. */
export class ConformanceError extends DistilleryError {
  constructor(type: string, message: string) {
    super('CONFORMANCE', `${type}: ${message}`);
  }
}

function fail(def: NodeTypeDefinition, message: string): never {
  throw new ConformanceError(def.type, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every object schema with properties is closed; every property has a description. */
function schemaProblems(schema: Record<string, unknown>, at: string, out: string[]): void {
  if (isObject(schema.properties)) {
    if (schema.additionalProperties !== false) out.push(`${at || '(root)'}: additionalProperties must be false`);
    for (const [key, prop] of Object.entries(schema.properties)) {
      const p = prop as Record<string, unknown>;
      const where = at ? `${at}.${key}` : key;
      if (typeof p.description !== 'string' || !p.description.trim()) out.push(`${where}: no description`);
      schemaProblems(p, where, out);
    }
  }
  if (isObject(schema.items)) schemaProblems(schema.items, `${at}[]`, out);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function resolve(def: NodeTypeDefinition, config: unknown): Record<string, unknown> {
  const { config: resolved, problems } = validateNodeConfig(def, config);
  if (problems.length) fail(def, `the fixture config is invalid: ${problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`);
  return resolved as Record<string, unknown>;
}

async function settle(instance: NodeInstance, items: number): Promise<void> {
  for (const stream of Object.values(instance.streams ?? {})) {
    const taken = await lastValueFrom(stream.pipe(take(items), toArray()));
    tf.dispose(taken as tf.TensorContainer[]);
  }
  await Promise.all(Object.values(instance.resources ?? {}).map((r) => (isObservable(r) ? undefined : r)));
}

/** The checks for one node type, framework-neutral: each `run` throws on failure. */
export function conformanceChecks(def: NodeTypeDefinition, fixture: ConformanceFixture = {}, options: ConformanceOptions = {}): ConformanceCheck[] {
  const checks: ConformanceCheck[] = [];
  const schema = def.configSchema as Record<string, unknown>;
  const given = fixture.config ?? {};

  checks.push({
    name: 'schema: closed, described, defaults valid and filled',
    run: async () => {
      const problems: string[] = [];
      if (schema.type !== 'object') problems.push('(root): type must be "object"');
      schemaProblems(schema, '', problems);
      if (problems.length) fail(def, `config schema: ${problems.join('; ')}`);
      const resolved = resolve(def, given);
      for (const [key, prop] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if ('default' in prop && !(key in given) && !sameJson(resolved[key], prop.default) && !isObject(prop.default)) {
          fail(def, `default of ${key}: the schema says ${JSON.stringify(prop.default)}, the resolved config has ${JSON.stringify(resolved[key])}`);
        }
        if ('default' in prop && !(key in resolved)) fail(def, `default of ${key} is not filled in`);
      }
    },
  });

  if (options.folder !== undefined) {
    const folder = options.folder;
    checks.push({
      name: 'docs: schema.json and the README config table are the generated ones; every port documented',
      run: async () => {
        const schemaFile = path.join(folder, 'schema.json');
        if (!fs.existsSync(schemaFile) || fs.readFileSync(schemaFile, 'utf8') !== renderConfigSchema(def.configSchema)) {
          fail(def, `${schemaFile} is not the schema generated from config.ts: run \`npm run schemas\``);
        }
        const readme = fs.readFileSync(path.join(folder, 'README.md'), 'utf8');
        if (!readme.startsWith(`# \`${def.type}\``)) fail(def, 'README.md must start with "# `<type>`"');
        const begin = readme.indexOf(CONFIG_TABLE_BEGIN);
        const end = readme.indexOf(CONFIG_TABLE_END);
        const table = begin >= 0 && end > begin ? readme.slice(begin + CONFIG_TABLE_BEGIN.length, end).trim() : undefined;
        if (table !== configTableMarkdown(def.configSchema)) fail(def, 'README.md\'s config table is not the generated one: run `npm run schemas`');
        for (const [side, ports] of [['input', def.inputs], ['output', def.outputs]] as const) {
          for (const port of Object.keys(ports)) {
            if (!new RegExp(`\\| \`${port}\` \\(${side}`).test(readme)) fail(def, `README.md does not document the ${side} port "${port}"`);
          }
        }
      },
    });
  }

  checks.push({
    name: 'config round trip: load → resolve → serialise → load gives the same config',
    run: async () => {
      const first = resolve(def, given);
      const second = resolve(def, JSON.parse(JSON.stringify(first)));
      if (!sameJson(first, second)) fail(def, `round trip changed the config: ${JSON.stringify(first)} → ${JSON.stringify(second)}`);
    },
  });

  checks.push({
    name: 'a bad config is reported with file:line:col and its JSON path',
    run: async () => {
      const configLines = JSON.stringify(given, null, 2).split('\n').slice(1, -1).map((l) => `      ${l}`);
      if (configLines.length) configLines[configLines.length - 1] += ',';
      const lines = ['{', '  version: 1,', '  name: \'conformance\',', '  nodes: {', '    subject: {', `      type: '${def.type}',`, '      config: {',
        ...configLines, '        notAConfigKey: 1,', '      },', '    },', '  },', '}'];
      const line = lines.indexOf('        notAConfigKey: 1,') + 1;
      const registry = new NodeRegistry();
      registry.register(def, 'conformance');
      const file = path.join(os.tmpdir(), `conformance-${def.type}.json5`);
      const { problems } = await validateGraphText(lines.join('\n'), file, { registry });
      const found = problems.find((p) => p.path === 'nodes.subject.config.notAConfigKey');
      if (!found) fail(def, `an unknown config key was not reported (problems: ${problems.map((p) => p.path).join(', ') || 'none'})`);
      if (found.position?.line !== line || found.position.column !== 9) {
        fail(def, `the unknown key is at ${line}:9, the problem says ${found.position ? `${found.position.line}:${found.position.column}` : 'no position'}`);
      }
    },
  });

  if (fixture.inputs) {
    const inputs = fixture.inputs;
    checks.push({
      name: 'create → run on tiny inputs → dispose leaves tf.memory().numTensors where it started',
      run: async () => {
        const before = tf.memory().numTensors;
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `conformance-${def.type}-`));
        try {
          const given_ = await inputs();
          const ctx = nodeContext(resolve(def, given), { resources: given_.resources, streams: given_.streams, outDir: dir, runDir: dir });
          const instance = await def.create(ctx);
          try {
            await instance.run?.();
            await settle(instance, fixture.streamItems ?? 2);
          } finally {
            await instance.dispose?.();
            await given_.dispose?.();
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
        await new Promise((r) => setTimeout(r, 10));
        const after = tf.memory().numTensors;
        if (after !== before) fail(def, `${after - before} tensors leaked (numTensors ${before} → ${after})`);
      },
    });
  }

  if (fixture.inputs && fixture.resumable) {
    const inputs = fixture.inputs;
    checks.push({
      name: 'cancelled mid-run, it saves its state and resumes past where it stopped',
      run: async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `conformance-${def.type}-`));
        try {
          const controller = new AbortController();
          let stoppedAt = 0;
          const first = await inputs();
          const ctx = nodeContext(resolve(def, given), {
            resources: first.resources, streams: first.streams, outDir: dir, runDir: dir, signal: controller.signal,
            onProgress: (_label, current) => {
              if (current >= 2 && !controller.signal.aborted) {
                stoppedAt = current;
                controller.abort();
              }
            },
          });
          const instance = await def.create(ctx);
          let cancelled = false;
          try {
            await instance.run?.();
          } catch {
            cancelled = controller.signal.aborted;
          } finally {
            if (controller.signal.aborted) await instance.saveState?.();
            await instance.dispose?.();
            await first.dispose?.();
          }
          if (!stoppedAt) fail(def, 'the run reported no progress step ≥ 2 to cancel at (make the fixture run longer)');
          if (!cancelled) fail(def, 'the run did not stop with an error when its signal was aborted');
          const saved = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.safetensors'));
          if (!saved.length) fail(def, 'nothing was saved when the run was cancelled (no .safetensors under its folder)');

          const second = await inputs();
          const resumed = nodeContext(resolve(def, given), { resources: second.resources, streams: second.streams, outDir: dir, runDir: dir, resume: true });
          const again = await def.create(resumed);
          try {
            await again.run?.();
            await settle(again, fixture.streamItems ?? 2);
          } finally {
            await again.dispose?.();
            await second.dispose?.();
          }
          const steps = resumed.progressUpdates.map((u) => u.current).filter((s) => s > 0);
          if (!steps.length) fail(def, 'the resumed run reported no progress');
          if (Math.min(...steps) <= 1) fail(def, `the resumed run started again from step ${Math.min(...steps)} instead of after the saved state (cancelled at ${stoppedAt})`);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    });
  }
  return checks;
}

/** Registers the checks as mocha tests (`describe`/`it` globals) under "<type> conformance". */
export function describeConformance(def: NodeTypeDefinition, fixture: ConformanceFixture = {}, options: ConformanceOptions = {}): void {
  const g = globalThis as { describe?: (name: string, body: () => void) => void; it?: (name: string, body: () => Promise<void>) => void };
  if (!g.describe || !g.it) {
    throw new DistilleryError('CONFORMANCE', 'describeConformance needs mocha\'s describe and it globals; with another runner, run conformanceChecks() yourself');
  }
  const { describe, it } = g;
  describe(`${def.type} conformance`, () => {
    for (const check of conformanceChecks(def, fixture, options)) it(check.name, () => check.run());
  });
}

