/**
 * TF.js's CPU backend advertises the node backend ("Hi, looks like you are running TensorFlow.js in
 * Node.js … install our node backend") on its first tensor. No Distillery run prints it, on any backend:
 * each test runs the CLI in a child process on a graph whose nodes make real tensors, and reads all
 * of its output.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const GREETING = /looks like you are running TensorFlow\.js in Node\.js/;
const ROOT = path.resolve(__dirname, '../..');

function runNode(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const BACKENDS = ['cpu', 'wasm', 'libtorch', 'webgpu'];

describe('backends: the TF.js "install the node backend" greeting', function () {
  this.timeout(180_000);
  let tmp: string;
  /** One CLI run per backend, started together (each is mostly start-up time). */
  let runs: Map<string, Promise<{ code: number | null; output: string }>>;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-greeting-'));
    runs = new Map(BACKENDS.map((backend) => [backend, runNode(['src/cli/main.ts', 'run', 'test/fixtures/runtime/graphs/pipeline.json5',
      '--backend', backend, '--out', path.join(tmp, backend), '--progress', 'none'])]));
  });
  after(async () => {
    await Promise.allSettled(runs.values());
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('is what plain TF.js prints on the CPU backend (the check below can see it)', async () => {
    const script = "const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu'); tf.setBackend('cpu').then(() => tf.tensor1d([1, 2]).dataSync());";
    const { code, output } = await runNode(['-e', script]);
    assert.equal(code, 0, output);
    assert.match(output, GREETING);
  });

  for (const backend of BACKENDS) {
    it(`is not printed by a run on the ${backend} backend`, async function () {
      const { code, output } = await runs.get(backend)!;
      if (code !== 0 && new RegExp(`backend "${backend}" is not available on this machine`).test(output)) {
        console.log(`      NOTICE: skipped, the ${backend} backend is not available here: ${output.trim().split('\n')[0]}`);
        this.skip();
      }
      assert.equal(code, 0, output);
      assert.match(output, new RegExp(`backend: ${backend}`));
      // The graph's batch source made tensors on this backend and its sink read them back.
      assert.match(fs.readFileSync(path.join(tmp, backend, 'logs.jsonl'), 'utf8'), /"node":"sink","step":4,"values":\{"sum":24\}/);
      assert.doesNotMatch(output, GREETING);
    });
  }
});
