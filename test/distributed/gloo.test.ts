/**
 * GlooProcessGroup between 2 local processes on 127.0.0.1 (torch.distributed's TCPStore + ProcessGroupGloo).
 * Expected values are computed by hand from the rank-dependent inputs in fixtures/collectives-worker.ts;
 * they are small integers and halves, exact in float32, so the comparison is exact.
 */
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import * as path from 'node:path';
import { GlooProcessGroup, loadC10d } from '../../src/distributed/gloo';
import { freePort, killAllWorkers, runWorkers } from '../helpers/workers';

const WORKER = path.join(__dirname, 'fixtures', 'collectives-worker.ts');

function parse(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('distributed/gloo: process group over c10d', function () {
  this.timeout(90_000);
  before(function () {
    try {
      loadC10d();
    } catch {
      this.skip(); // no libgloo-dev at build time: covered by the message test below
    }
  });
  afterEach(killAllWorkers);

  it('all-reduce (sum, mean), broadcast, all-gather and barrier agree on both ranks; the event loop runs meanwhile', async () => {
    const results = await runWorkers(WORKER, 2, { port: await freePort(), args: ['collectives'], limitMs: 60_000 });
    for (const r of results) {
      assert.equal(r.code, 0, `rank ${r.rank} exited ${r.code} ${r.signal}: ${r.stderr}`);
      const out = parse(r.stdout);
      assert.deepEqual(out.sum, [3, 0.5, -1]);
      assert.deepEqual(out.mean, [1.5, 5]);
      assert.deepEqual(out.bcast, [42, 1]);
      assert.deepEqual(out.gathered, [0, 0.25, 1, 1.25]);
      assert.equal(out.ticked, true);
      assert.equal(out.error, undefined);
    }
  });

  it('a SIGKILLed rank: the survivor fails its next collective with an error naming rank 1', async () => {
    const results = await runWorkers(WORKER, 2, { port: await freePort(), args: ['die'], limitMs: 60_000 });
    assert.equal(results[1].signal, 'SIGKILL');
    assert.equal(results[0].code, 3, results[0].stderr);
    const error = parse(results[0].stdout).error as string;
    assert.match(error, /^rank 0: allReduce failed \(timeout 10 s\): rank 1 stopped responding — /);
  });

  it('a hung (SIGSTOPped) rank: the survivor fails after the timeout, naming rank 1', async () => {
    const results = await runWorkers(WORKER, 2, { port: await freePort(), args: ['hang'], env: { TEST_TIMEOUT_MS: '3000' }, limitMs: 60_000, killRestAfter: 0 });
    assert.equal(results[0].code, 3, results[0].stderr);
    assert.match(parse(results[0].stdout).error as string, /^rank 0: allReduce failed \(timeout 3 s\): rank 1 stopped responding — /);
    assert.equal(results[1].signal, 'SIGKILL', 'the stopped rank is killed by the test harness');
  });

  it('MASTER_PORT in use: a clear error naming the address', async () => {
    const server = net.createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
    try {
      await assert.rejects(
        GlooProcessGroup.connect({ rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 2000, rendezvousTimeoutMs: 2000 }),
        (err: Error) => {
          assert.equal(err.message, `rank 0: the rendezvous port 127.0.0.1:${port} is in use; choose another MASTER_PORT (or leave it out with --nproc-per-node, which picks a free one)`);
          return true;
        },
      );
    } finally {
      server.close();
    }
  });
});

describe('distributed/gloo: without the addon', () => {
  it('a distributed run without a loadable addon says what is wrong', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', "try { require('./src/distributed/gloo').loadC10d() } catch (e) { console.log(e.constructor.name + ': ' + e.message) }"], {
      cwd: path.join(__dirname, '..', '..'),
      env: { ...process.env, DISTILLERY_C10D_ADDON: '/nonexistent/distillery_c10d.node' },
      encoding: 'utf8',
    });
    assert.match(r.stdout, /^DistributedError: the native addon \/nonexistent\/distillery_c10d.node could not be loaded: Cannot find module/);
  });
});
