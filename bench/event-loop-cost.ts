/**
 * The cost of giving the event loop its turns (src/event-loop.ts): the check every long loop makes once
 * per unit of work, and one full turn. Prints both; compare with the step time of `npm run bench`
 * (a training step makes one check and at most one turn).
 *
 *   node dist/bench/event-loop-cost.js
 */
import * as os from 'node:os';
import { eventLoopTurn, yieldToEventLoop } from '../src/event-loop';

async function main(): Promise<void> {
  const checks = 2_000_000;
  let t0 = performance.now();
  for (let i = 0; i < checks; i++) await eventLoopTurn();
  const nsPerCheck = ((performance.now() - t0) / checks) * 1e6;
  const turns = 20_000;
  t0 = performance.now();
  for (let i = 0; i < turns; i++) await yieldToEventLoop();
  const usPerTurn = ((performance.now() - t0) / turns) * 1e3;
  console.log(JSON.stringify({ cpu: os.cpus()[0]?.model, nsPerCheck: +nsPerCheck.toFixed(1), usPerTurn: +usPerTurn.toFixed(2) }));
}

void main();
