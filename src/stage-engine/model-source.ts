/**
 * Model-source node types (`unet`, `autoencoder`, `classifier`) share one shape: build the model from a
 * config, or from a model file written by a training stage (`model.safetensors`, whose metadata holds
 * the config), and hand it out as a `model` resource.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FileFormatError, type Problem } from '../errors';
import { loadSafetensorsAsTf, readSafetensorsHeader } from '../io/safetensors';
import type { JsonSchema, NodeTypeDefinition } from '../registry/types';
import { defineNodeType } from '../registry/types';
import type { WeightModule } from '../models/types';
import { MODEL_PORT_TYPE } from './node-support';
import { Json, NodeConfig, Type, type Static } from '../schema/typebox';

/** Reads the `config` metadata of a model file. */
export async function modelFileConfig(file: string): Promise<Record<string, unknown>> {
  const header = await readSafetensorsHeader(file);
  const text = header.metadata.config;
  if (text === undefined) throw new FileFormatError(file, 'has no "config" metadata: give the model config in the node\'s "config"');
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new FileFormatError(file, `the "config" metadata is not JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Builds a model from config and/or a weights file (PyTorch layout, strict names). */
export async function buildModel<M extends WeightModule>(make: (config: Record<string, unknown>, seed: number) => M, c: ModelSourceConfig): Promise<M> {
  const file = c.weights !== undefined ? path.resolve(c.weights) : undefined;
  const config = c.config ?? (file ? await modelFileConfig(file) : {});
  const model = make(config, c.seed);
  if (!file) return model;
  const weights = await loadSafetensorsAsTf(file);
  try {
    model.loadWeights(weights);
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(weights));
  }
}

/**
 * The config schema (TypeBox) of a model-source node: the model's own config schema (plain JSON Schema,
 * shared with model files and LDM import) under `config`, or a weights file.
 */
export function modelSourceSchema(title: string, what: string, configSchema: Record<string, unknown>) {
  return NodeConfig(title, `${what}: built from "config", or loaded from "weights" (a model.safetensors written by a training stage, whose metadata holds the config).`, {
    config: Type.Optional(Json<Record<string, unknown>>(configSchema, { description: `The model config (snake_case keys). ${String(configSchema.description ?? '')}`.trim() })),
    weights: Type.Optional(Type.String({ minLength: 1, description: 'A safetensors weight file (PyTorch layout; e.g. models/mnist/teacher.safetensors). Without "config", the config is read from its metadata.' })),
    seed: Type.Integer({ minimum: 0, default: 0, description: 'Seed of the initial weights (when no weights file is given).' }),
  });
}

/** The resolved config of a model-source node. */
export type ModelSourceConfig = Static<ReturnType<typeof modelSourceSchema>>;

export function modelSourceNode<M extends WeightModule>(type: string, description: string, what: string, schema: JsonSchema,
  make: (config: Record<string, unknown>, seed: number) => M, summary: (m: M) => string): NodeTypeDefinition<ModelSourceConfig> {
  return defineNodeType<ModelSourceConfig>({
    type,
    description,
    configSchema: schema,
    inputs: {},
    outputs: { model: { kind: 'resource', type: MODEL_PORT_TYPE, description: `The ${what} (stages copy it, never change it).` } },
    check(config) {
      const problems: Problem[] = [];
      if (config.config === undefined && config.weights === undefined) problems.push({ path: 'config', message: 'give a model config, a weights file, or both' });
      return problems;
    },
    async create(ctx) {
      const model = await buildModel(make, ctx.config);
      ctx.log.info(summary(model));
      return { resources: { model }, dispose: () => model.dispose() };
    },
  });
}
