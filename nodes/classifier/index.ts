/** `classifier`: the embedded default's evaluation classifier (src/models/classifier.ts). */
import { Classifier, type ClassifierConfig } from '../../src/models/classifier';
import { modelSourceNode } from '../../src/stage-engine/model-source';
import { configSchema } from './config';


export const classifierNode = modelSourceNode('classifier', 'The small image classifier (logits; penultimate features for FID) from a config or a model file',
  'classifier', configSchema, (config, seed) => new Classifier(config as Partial<ClassifierConfig>, { seed }),
  (m) => `classifier: ${m.numParameters} parameters, ${m.config.num_classes} classes, ${m.config.feature_dim}-d features`);
