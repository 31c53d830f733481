/**
 * Giving the event loop a turn during long computations.
 *
 * A training or sampling loop whose awaits all resolve at once (a TF.js read on a CPU backend, a stream
 * item that is already waiting) never leaves the microtask queue: timers, signal handlers and I/O
 * callbacks wait until the loop ends. Progress lines (a timer), Ctrl-C (a signal handler) and watchdogs
 * (e.g. a collective's timeout) then go blind for the length of a stage. Every long loop therefore awaits
 * `eventLoopTurn()` once per unit of work (a training step, a sampling step, a batch): it returns at once
 * until `EVENT_LOOP_SLICE_MS` have passed since the loop last had a turn, then waits for one full turn
 * (`setImmediate`: the timers, poll and check phases all run before the loop continues).
 *
 * This module depends on nothing: every layer may use it.
 */

/** Work allowed between two turns of the event loop. */
export const EVENT_LOOP_SLICE_MS = 50;

let lastTurn = performance.now();
let turns = 0;

/** Waits for one full turn of the event loop, whatever the time since the last. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => {
    lastTurn = performance.now();
    turns += 1;
    resolve();
  }));
}

/**
 * Gives the event loop a turn if the caller has computed for `EVENT_LOOP_SLICE_MS` or more since the last
 * one; otherwise resolves in the same microtask checkpoint (the cost is one `performance.now()`).
 */
export function eventLoopTurn(): Promise<void> | undefined {
  if (performance.now() - lastTurn < EVENT_LOOP_SLICE_MS) return undefined;
  return yieldToEventLoop();
}

/** Turns given so far in this process (for tests and benchmarks). */
export function eventLoopTurnsGiven(): number {
  return turns;
}
