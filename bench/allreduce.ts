/**
 * All-reduce cost of data-parallel training: `node dist/bench/allreduce.js [elements…]` starts 2 local
 * ranks on 127.0.0.1 (torch.distributed's Gloo through GlooProcessGroup) and times the gradient
 * all-reduce (mean) of one flat float32 buffer per size: median of 20 after 3 warm-ups, in ms, with the
 * bytes per call. Default sizes: the reference UNet of shared/spec/benchmark.md (≈ 0.50 M parameters)
 * and the MNIST teacher of graphs/mnist/teacher.json5.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { readDistributedEnv } from '../src/distributed/env';
import { GlooProcessGroup } from '../src/distributed/gloo';

async function worker(sizes: number[]): Promise<void> {
  const env = readDistributedEnv()!;
  const group = await GlooProcessGroup.connect({ ...env, timeoutMs: 60_000, rendezvousTimeoutMs: 60_000 });
  for (const n of sizes) {
    const buffer = new Float32Array(n).fill(group.rank + 1);
    const times: number[] = [];
    for (let i = 0; i < 23; i++) {
      await group.barrier();
      const t0 = performance.now();
      await group.allReduce(buffer, 'mean');
      if (i >= 3) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    if (group.rank === 0) console.log(`${n} floats (${(4 * n / 1e6).toFixed(2)} MB): median ${times[10].toFixed(2)} ms, min ${times[0].toFixed(2)} ms`);
  }
  await group.barrier();
  group.close();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
  const use = sizes.length ? sizes : [500_000, 2_000_000];
  if (process.env.RANK !== undefined) return worker(use);
  const port = await freePort();
  const children = [0, 1].map((rank) => spawn(process.execPath, [...process.execArgv, process.argv[1], ...use.map(String)], {
    env: { ...process.env, WORLD_SIZE: '2', RANK: String(rank), LOCAL_RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
    stdio: rank === 0 ? 'inherit' : 'ignore',
  }));
  const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('exit', r))));
  process.exitCode = codes.find((c) => c !== 0) ?? 0;
}

void main();
