/**
 * How nodes find the run's process group: the executor binds a DistributedRun in the run's DI container
 * under DISTRIBUTED_RUN when the run is data-parallel; single-process runs bind nothing.
 */
import type { ProcessGroup } from './process-group';

export const DISTRIBUTED_RUN = Symbol.for('distillery.DistributedRun');

/** What the executor binds for a data-parallel run. */
export interface DistributedRun {
  group: ProcessGroup;
  /** Compare a checksum of the parameters across ranks every this many optimizer steps (and at each stage's end). */
  checksumEvery: number;
}

/** The part of an inversify Container used here (kept structural so this module needs no DI import). */
interface Lookup {
  isBound(id: symbol): boolean;
  get<T>(id: symbol): T;
}

/** The run's data-parallel settings, or undefined in a single-process run. */
export function distributedRunOf(container: Lookup | undefined): DistributedRun | undefined {
  if (!container || !container.isBound(DISTRIBUTED_RUN)) return undefined;
  const run = container.get<DistributedRun>(DISTRIBUTED_RUN);
  return run.group.worldSize > 1 ? run : undefined;
}

/** The run's process group, or undefined in a single-process run. */
export function processGroupOf(container: Lookup | undefined): ProcessGroup | undefined {
  return distributedRunOf(container)?.group;
}

/** True where this process writes shared outputs (the run folder, checkpoints, logs): rank 0 or no group. */
export function isWriter(group: ProcessGroup | undefined): boolean {
  return !group || group.rank === 0;
}
