/**
 * `noise-schedule` config: written once here; schema.json, the README table and `distillery nodes` are
 * generated from it. It is the schedule schema of src/diffusion/config.ts without `default` keywords (the
 * defaults are stated in each description and applied by the schedule itself), plus `diffusersConfig`;
 * this keeps "a file" and "keys given here" mutually exclusive after the runtime fills schema defaults.
 */
import { noiseScheduleConfigSchema, type NoiseScheduleConfigInput } from '../../src/diffusion';
import { Json, NodeConfig, Type, type Static, type TOptional, type TUnsafe } from '../../src/schema/typebox';

type ScheduleKeys = { [K in keyof NoiseScheduleConfigInput]-?: TOptional<TUnsafe<NoiseScheduleConfigInput[K]>> };

function scheduleKeys(): ScheduleKeys {
  const properties: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(noiseScheduleConfigSchema.properties)) {
    const { default: def, description, ...rest } = prop as Record<string, unknown>;
    properties[key] = Type.Optional(Json(rest, { description: `${description} Default: ${JSON.stringify(def)}.` }));
  }
  return properties as ScheduleKeys;
}

export const configSchema = NodeConfig('noise-schedule node config', 'A noise schedule: the camelCase keys below (each optional), or diffusersConfig alone.', {
  ...scheduleKeys(),
  diffusersConfig: Type.Optional(Type.String({
    minLength: 1,
    description:
      'Path of a diffusers scheduler_config.json (DDIMScheduler, DDPMScheduler or the seed\'s DistillDDIMScheduler; relative paths are resolved from the ' +
      'working directory). When given, no other key may be set: the file is the whole config. Unknown or unsupported ' +
      'keys in the file are errors.',
  })),
});

/** The resolved config: schedule keys (each optional), or the path of a diffusers scheduler_config.json. */
export type NoiseScheduleNodeConfig = Static<typeof configSchema>;
