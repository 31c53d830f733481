/** The models layer's public surface (docs/models.md). */
export type { ConditionalDenoiser, PredictionType, WeightModule } from './types';
export {
  ParameterizedModel, ParamStore, Param, tfShapeOf, fromTorchLayout, toTorchLayout,
  type LoadWeightsOptions, type ParamInit, type ParamLayout,
} from './params';
export { setKernelStrategy, getKernelStrategy, type KernelStrategy } from './layers';
export {
  UNet, resolveUNetConfig, checkUNetConfig, unetParameterShapes, unetWeightsFromStateDict, unetConfigSchema,
  LDM_UNET_PREFIX, CLASS_EMBEDDER_WEIGHT,
  type UNetConfig, type UNetConfigInput, type UNetOptions, type UNetForwardOptions, type UNetTrace,
} from './unet';
export { Autoencoder, autoencoderConfigSchema, type AutoencoderConfig } from './autoencoder';
export { Classifier, classifierConfigSchema, type ClassifierConfig } from './classifier';
export {
  VQModel, resolveVQConfig, vqParameterShapes, vqConfigSchema, LDM_FIRST_STAGE_PREFIX,
  type VQModelConfig, type VQModelConfigInput, type VQDDConfig, type VQOptions, type VQTraceOptions,
} from './vq';
export {
  ClassEmbedder, classEmbedderConfigSchema, LDM_COND_STAGE_PREFIX, type ClassEmbedderConfig,
} from './class-embedder';
