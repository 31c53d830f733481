/**
 * `noise-schedule`: makes a NoiseSchedule resource from a camelCase schedule config, or from a
 * diffusers `scheduler_config.json` file named by `diffusersConfig`.
 *
 * The config schema (schema.json) is the schedule schema of src/diffusion/config.ts without `default`
 * keywords (the defaults are stated in each description and applied by the schedule itself), plus
 * `diffusersConfig`; this keeps "a file" and "keys given here" mutually exclusive after the runtime
 * fills schema defaults. A test checks schema.json against `scheduleNodeConfigSchema()`.
 */
import * as path from 'node:path';
import { ConfigError, DistilleryError, type Problem } from '../../src/errors';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import {
  NoiseSchedule,
  noiseScheduleConfigSchema,
  readNoiseScheduleFile,
  resolveNoiseScheduleConfig,
  type NoiseScheduleConfigInput,
} from '../../src/diffusion';
import schema from './schema.json';

export type NoiseScheduleNodeConfig = NoiseScheduleConfigInput & {
  /** Path of a diffusers scheduler_config.json (relative to the working directory). */
  diffusersConfig?: string;
};

/** The node's config schema, derived from the schedule schema (what schema.json holds). */
export function scheduleNodeConfigSchema(): JsonSchema {
  const properties: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(noiseScheduleConfigSchema.properties)) {
    const { default: def, description, ...rest } = prop as Record<string, unknown>;
    properties[key] = { ...rest, description: `${description} Default: ${JSON.stringify(def)}.` };
  }
  properties.diffusersConfig = {
    type: 'string',
    minLength: 1,
    description:
      'Path of a diffusers scheduler_config.json (DDIMScheduler, DDPMScheduler or the seed\'s DistillDDIMScheduler; relative paths are resolved from the ' +
      'working directory). When given, no other key may be set: the file is the whole config. Unknown or unsupported ' +
      'keys in the file are errors.',
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'noise-schedule node config',
    description: 'A noise schedule: the camelCase keys below (each optional), or diffusersConfig alone.',
    type: 'object',
    additionalProperties: false,
    properties,
  };
}

function problemsOf(err: unknown, prefix: string): Problem[] {
  if (err instanceof ConfigError) return err.problems.map((p) => ({ ...p, path: [prefix, p.path].filter(Boolean).join('.') }));
  if (err instanceof DistilleryError) return [{ path: prefix, message: err.message }];
  throw err;
}

/** The schedule a config describes (throws ConfigError / FileFormatError). */
export function scheduleFromNodeConfig(config: NoiseScheduleNodeConfig): NoiseSchedule {
  const { diffusersConfig, ...keys } = config;
  if (diffusersConfig !== undefined) return readNoiseScheduleFile(path.resolve(diffusersConfig));
  return NoiseSchedule.fromConfig(keys);
}

export const noiseScheduleNode = defineNodeType<NoiseScheduleNodeConfig>({
  type: 'noise-schedule',
  description: 'A diffusion noise schedule (betas, alpha-bar, inference timesteps) from a config or a diffusers scheduler_config.json',
  configSchema: schema as JsonSchema,
  inputs: {},
  outputs: {
    schedule: { kind: 'resource', type: 'noise-schedule', description: 'The NoiseSchedule (src/diffusion/schedule.ts).' },
  },
  check(config) {
    const { diffusersConfig, ...keys } = config;
    if (diffusersConfig !== undefined) {
      const others = Object.keys(keys);
      if (others.length) {
        return [{
          path: others[0],
          message: `cannot be combined with diffusersConfig (the file is the whole config; found ${others.join(', ')})`,
          hint: 'remove these keys, or drop diffusersConfig and write the schedule here',
        }];
      }
      try {
        readNoiseScheduleFile(path.resolve(diffusersConfig));
        return [];
      } catch (err) {
        return problemsOf(err, 'diffusersConfig');
      }
    }
    try {
      resolveNoiseScheduleConfig(keys);
      return [];
    } catch (err) {
      return problemsOf(err, '');
    }
  },
  create(ctx) {
    const schedule = scheduleFromNodeConfig(ctx.config);
    ctx.log.info('noise schedule ready', { config: schedule.toConfig() });
    return { resources: { schedule } };
  },
});
