/** `evaluate` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, Type, type Static } from '../../src/schema/typebox';

export const configSchema = NodeConfig('evaluate node config', 'Sampling and scoring of the teacher and the distilled students (FID in classifier features, class accuracy).', {
  title: Type.String({ default: 'Distillation evaluation', description: 'Title of the metrics (and of the report).' }),
  baseSteps: Type.Integer({ minimum: 1, default: 64, description: 'K of the base DDIM schedule: an N-step sampler uses the N-step sub-sequence of it, as the students were trained (N must divide K).' }),
  teacherSteps: Type.Array(Type.Integer({ minimum: 1 }), { default: [64, 8, 4, 2, 1], description: 'Step counts at which the teacher is sampled (DDIM with guidance).' }),
  studentSteps: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { description: 'Evaluate only the students with these step counts (default: every student given).' })),
  guidanceScale: Type.Number({ minimum: 1, default: 3, description: 'Guidance scale g of the teacher\'s samples (1 = none). A w-conditioned student is sampled at w = g − 1.' }),
  teacherSeries: Type.Optional(Type.String({ description: 'Series name of the teacher in tables and charts (default: "teacher (DDIM, g=<guidanceScale>)").' })),
  studentSeries: Type.String({ default: 'distilled student', description: 'Series name of the students.' }),
  samplesPerClass: Type.Integer({ minimum: 2, default: 100, description: 'Samples per class and cell (10 classes × 100 = 1,000 per cell).' }),
  classes: Type.Optional(Type.Integer({ minimum: 1, description: 'Classes to sample, 0 … classes−1 (default: the data set\'s numClasses).' })),
  batchSize: Type.Integer({ minimum: 1, default: 250, description: 'Samples drawn per sampler call.' }),
  gridColumns: Type.Integer({ minimum: 1, default: 10, description: 'Samples per class shown in each PNG grid.' }),
  seed: Type.Optional(Type.Integer({ minimum: 0, description: 'Seed of the initial noise (default: the node\'s seed). Every cell uses the same noise, so grids compare image by image.' })),
  guidanceSweep: Type.Optional(Type.Array(Type.Number({ minimum: 1 }), { minItems: 1, description: 'Sample the teacher at each of these guidance scales instead of guidanceScale (series "teacher (DDIM, g=<g>)") and choose one: the lowest FID at the largest teacherSteps among the scales whose accuracy there is at least sweepMinAccuracy (none: the most accurate). The choice goes to metrics.json (`choice`) and the log. Run it on the validation split.' })),
  sweepMinAccuracy: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'guidanceSweep: the class accuracy (0 … 1) a scale must reach to be chosen.' }),
  split: Type.Union([Type.Literal('test'), Type.Literal('validation')], { default: 'test', description: 'Held-out part of the data that is the FID reference: "test" for the numbers you report, "validation" for choices (guidance scale, EMA decay, checkpoints), so that the test part never tunes anything. "validation" needs a data node with validationSize > 0; use a seed other than the test evaluation\'s so that the initial noise differs too.' }),
  saveSamples: Type.Boolean({ default: false, description: 'Also write every cell\'s decoded samples to <run>/<node>/samples/<model>-<N>.safetensors (`images` [N, C, H, W] F32 in [-1, 1], `labels` [N] I64), e.g. to score them with another classifier.' }),
});

/** The resolved config (schema defaults filled in). */
export type EvaluateConfig = Static<typeof configSchema>;
