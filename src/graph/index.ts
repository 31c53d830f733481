/** The graph layer: parse, check and resolve graph files; render them. Imports no TensorFlow.js or RxJS. */
export * from './types';
export { loadGraph, validateGraph, parseGraphText, validateGraphText, graphFileValidator } from './validate';
export { parseSetValue, applySets, type AppliedSet } from './overrides';
export { toMermaid, toDot } from './render';
