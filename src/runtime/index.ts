/** The runtime: executes resolved graphs (DI container, lifecycle, streams, run folder, progress). */
export { runGraph, nodeSeed, type RunOptions, type RunResult, type NodeTiming, type NodeStatus } from './executor';
export { pullStream, consume, claimCurrentDelivery, STREAM_ORIGIN, type PullStreamOptions, type StreamOrigin } from '../streams/stream';
export { ProgressReporter, PROGRESS_MODES, resolveProgressMode, type ProgressMode } from './progress';
export {
  RESOLVED_GRAPH_FILE, MANIFEST_FILE, LOGS_FILE, TENSORBOARD_DIR, distilleryVersion, readManifest,
  type RunManifest, type ManifestAttempt, type RunStatus,
} from './run-folder';
