/**
 * `noise-schedule`: makes a NoiseSchedule resource from a camelCase schedule config, or from a
 * diffusers `scheduler_config.json` file named by `diffusersConfig`.
 *
 * The config schema (config.ts) is derived from the schedule schema of src/diffusion/config.ts.
 */
import * as path from 'node:path';
import { ConfigError, DistilleryError, type Problem } from '../../src/errors';
import { defineNodeType } from '../../src/registry/types';
import { NoiseSchedule, readNoiseScheduleFile, resolveNoiseScheduleConfig } from '../../src/diffusion';
import { configSchema, type NoiseScheduleNodeConfig } from './config';
export type { NoiseScheduleNodeConfig } from './config';

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
  configSchema,
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
