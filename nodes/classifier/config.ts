/** `classifier` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { classifierConfigSchema } from '../../src/models/classifier';
import { modelSourceSchema } from '../../src/stage-engine/model-source';

/** The model's own config schema (src/models, shared with model files) under `config`. */
const { title: _t, ...rest } = classifierConfigSchema;
export const configSchema = modelSourceSchema('classifier node config', 'The small image classifier (evaluation: accuracy and FID features)', rest);
