/**
 * How nodes learn the run's compute backend without reading global state: the executor binds the
 * BackendInfo it selected (or found) in the run's DI container under RUN_BACKEND. Outside a run (a node
 * created by a unit test without a container) nothing is bound.
 */
import type { BackendInfo } from './types';

export const RUN_BACKEND = Symbol.for('distillery.RunBackend');

/** The part of an inversify Container used here (kept structural so this module needs no DI import). */
interface Lookup {
  isBound(id: symbol): boolean;
  get<T>(id: symbol): T;
}

/** The run's backend, or undefined where no run container (or no binding) is given. */
export function runBackendOf(container: Lookup | undefined): BackendInfo | undefined {
  return container && container.isBound(RUN_BACKEND) ? container.get<BackendInfo>(RUN_BACKEND) : undefined;
}
