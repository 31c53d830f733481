/**
 * The seam between data-parallel training and a communication engine. Training code sees only this
 * interface; `GlooProcessGroup` (gloo.ts, torch.distributed's c10d over TCP) implements it today, and an
 * NCCL group (a CUDA build of libtorch) or an MPI one can implement it later without touching the trainer.
 *
 * Contract (as torch.distributed's collectives):
 * - Every rank calls the same collectives in the same order with buffers of the same length.
 * - Collectives work in place on float32 buffers; the buffer must not be touched until the promise settles
 *   (the engine reads and writes it from another thread so that the event loop keeps running).
 * - Every collective fails within `timeoutMs` when a peer is gone or hung, with a `DistributedError` that
 *   names the missing rank(s) when they can be determined.
 */
export type ReduceOp = 'sum' | 'mean';

export interface ProcessGroup {
  /** This process's rank in [0, worldSize). */
  readonly rank: number;
  readonly worldSize: number;
  /** Rank on this machine (selects per-machine resources such as a GPU). */
  readonly localRank: number;
  /** Workers on this machine (threads per worker default to cores ÷ this). */
  readonly localWorldSize: number;
  /** Name of the engine (`gloo`), for logs. */
  readonly backend: string;
  /** Per-operation timeout (ms). */
  readonly timeoutMs: number;
  /** Element-wise sum or mean of `buffer` over all ranks, written back into `buffer` on every rank. */
  allReduce(buffer: Float32Array, op: ReduceOp): Promise<void>;
  /** `root`'s buffer copied into `buffer` on every rank. */
  broadcast(buffer: Float32Array, root: number): Promise<void>;
  /** Concatenation of every rank's `buffer` in rank order (all ranks pass the same length). */
  allGather(buffer: Float32Array): Promise<Float32Array>;
  /** Returns once every rank has reached it. */
  barrier(): Promise<void>;
  /** Leaves the group; later calls fail. */
  close(): void;
}
