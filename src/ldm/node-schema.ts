/** The config schema (TypeBox) the ldm-* node types share: the imported model folder. */
import { NodeConfig, Type, type Static, type TObject, type TProperties } from '../schema/typebox';

/** The `model` key every ldm-* node has. */
export const LDM_MODEL_FOLDER = {
  model: Type.String({
    minLength: 1,
    description: 'The imported model folder (holds model.json, unet.safetensors, first-stage.safetensors, class-embedder.safetensors, scheduler_config.json); relative paths are resolved from the working directory.',
  }),
};

export function ldmModelNodeConfigSchema<P extends TProperties = {}>(title: string, what: string, extra: P = {} as P): TObject<typeof LDM_MODEL_FOLDER & P> {
  return NodeConfig(title, `${what} from a model folder written by "distillery import ldm".`, { ...LDM_MODEL_FOLDER, ...extra });
}

/** An ldm-* node's resolved config: the folder `distillery import ldm --out` wrote. */
export type LdmModelNodeConfig = Static<TObject<typeof LDM_MODEL_FOLDER>>;
