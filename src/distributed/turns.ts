/**
 * The order in which the nodes of a data-parallel run use the process group. Collectives are matched by
 * order across ranks, so two nodes that run at the same time (independent stages: a classifier trained
 * beside the teacher) must not interleave their all-reduces differently on different ranks. The executor
 * therefore gives the `run()` of the collective-using nodes (those without stream outputs: the stages,
 * evaluation, sampling) one at a time, in the graph's topological order, on every rank. Data nodes, whose
 * streams feed those stages, keep running concurrently.
 */
export class Turns {
  private readonly pending: string[];
  private readonly waiters = new Map<string, () => void>();

  /** `order`: the node ids that take turns, in the graph's topological order (the same on every rank). */
  constructor(order: readonly string[]) {
    this.pending = [...order];
  }

  /** Resolves when every node before `id` in the order is done (its turn released). */
  wait(id: string): Promise<void> {
    if (!this.pending.includes(id) || this.pending[0] === id) return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(id, resolve));
  }

  /** `id` is done with the group (finished, failed, cancelled, or never started). Idempotent. */
  release(id: string): void {
    const at = this.pending.indexOf(id);
    if (at < 0) return;
    this.pending.splice(at, 1);
    const next = this.pending[0];
    const wake = next === undefined ? undefined : this.waiters.get(next);
    if (wake) {
      this.waiters.delete(next!);
      wake();
    }
  }
}
