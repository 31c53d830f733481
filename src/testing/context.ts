/** A NodeContext for tests of node types (built-in or plugin), recording what the node logs and reports. */
import type { Observable } from 'rxjs';
import type { NodeContext } from '../registry/types';

export interface TestContext<C> extends NodeContext<C> {
  logged: Array<{ level: string; message: string; fields?: unknown }>;
  metricsLogged: Array<{ step: number; values: Record<string, number> }>;
  imagesLogged: Array<{ tag: string; step: number; png: Uint8Array; file?: string }>;
  /** Every `progress(...).update(current)` call, in order. */
  progressUpdates: Array<{ label: string; current: number }>;
}

export interface TestContextOptions {
  id?: string; resources?: Record<string, unknown>; streams?: Record<string, Observable<unknown>>;
  outDir?: string; runDir?: string; seed?: number; resume?: boolean; signal?: AbortSignal;
  /** Called on every progress update (e.g. to cancel the run at a given step). */
  onProgress?: (label: string, current: number) => void;
}

export function nodeContext<C>(config: C, options: TestContextOptions = {}): TestContext<C> {
  const logged: TestContext<C>['logged'] = [];
  const metricsLogged: TestContext<C>['metricsLogged'] = [];
  const imagesLogged: TestContext<C>['imagesLogged'] = [];
  const progressUpdates: TestContext<C>['progressUpdates'] = [];
  return {
    id: options.id ?? 'node',
    config,
    resources: options.resources ?? {},
    streams: options.streams ?? {},
    container: undefined as never,
    outDir: options.outDir ?? '/nonexistent',
    runDir: options.runDir ?? '/nonexistent',
    seed: options.seed ?? 1,
    resume: options.resume ?? false,
    log: {
      info: (message, fields) => logged.push({ level: 'info', message, fields }),
      warn: (message, fields) => logged.push({ level: 'warn', message, fields }),
      metrics: (step, values) => metricsLogged.push({ step, values }),
      image: (tag, step, png, file) => imagesLogged.push({ tag, step, png, ...(file ? { file } : {}) }),
    },
    signal: options.signal ?? new AbortController().signal,
    progress: (label) => ({
      update: (current) => {
        progressUpdates.push({ label, current });
        options.onProgress?.(label, current);
      },
      done: () => undefined,
    }),
    logged,
    metricsLogged,
    imagesLogged,
    progressUpdates,
  };
}
