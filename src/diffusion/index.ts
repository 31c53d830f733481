/**
 * The diffusion math layer: noise schedules, forward noising, prediction conversions, DDIM/DDPM steps
 * and samplers, classifier-free guidance, and the stage-two distillation target. Imports no RxJS and
 * no DI; tensors are NHWC, timesteps [B].
 */
// These functions are used inside training losses: make sure tf.grad can differentiate them even when
// no model module (which also registers them) has been loaded.
import '../util/tf-gradients';

export * from './config';
export * from './betas';
export * from './timesteps';
export * from './schedule';
export * from './coefficients';
export * from './noising';
export * from './predictions';
export * from './ddim';
export * from './ddpm';
export * from './distillation-target';
export * from './guidance';
export * from './noise';
export * from './sampler';
export * from './report';
export * from './files';
