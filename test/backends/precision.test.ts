// Run-level precision (src/backends/precision.ts, issue 17): the native-bf16 check and how selection
// refuses bf16 where it cannot run.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PrecisionError } from '../../src/errors';
import { selectBackend, setActivePrecision, shutdownBackend } from '../../src/backends';
import { checkNativeBf16, nativeBf16Flags, parsePrecision } from '../../src/backends/precision';
import { libtorchUnavailableReason, type LibtorchBackend } from '../../src/backends/libtorch';

const ZEN4 = 'processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512vl\n\nprocessor\t: 1\nflags\t\t: fpu avx512_bf16\n';
const SAPPHIRE = 'flags\t\t: avx512f amx_bf16 amx_tile avx512_bf16\n';
const ZEN3 = 'processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\nbugs\t\t: sysret_ss_attrs avx512_bf16_is_not_a_flag_here\n';

describe('backends/precision', () => {
  it('reads the native bf16 flags from the cpuinfo flags lines only', () => {
    assert.deepEqual(nativeBf16Flags(ZEN4), ['avx512_bf16']);
    assert.deepEqual(nativeBf16Flags(SAPPHIRE), ['avx512_bf16', 'amx_bf16']);
    assert.deepEqual(nativeBf16Flags(ZEN3), []);
  });

  it('bf16 without native bf16 is a PrecisionError that says so', () => {
    assert.throws(() => checkNativeBf16(ZEN3), (e: unknown) => e instanceof PrecisionError && e.code === 'PRECISION' &&
      e.message === 'precision bf16 needs a CPU with native bf16 arithmetic (an avx512_bf16 or amx_bf16 flag in /proc/cpuinfo); ' +
        'this CPU has neither, and emulated bf16 would be slower than float32: use --precision fp32');
    assert.deepEqual(checkNativeBf16(ZEN4), ['avx512_bf16']);
  });

  it('parses fp32 and bf16 and names the place of anything else', () => {
    assert.equal(parsePrecision('bf16', '--precision'), 'bf16');
    assert.throws(() => parsePrecision('fp16', '--precision'), { message: '--precision: precision must be one of fp32, bf16, found "fp16"' });
  });

  for (const name of ['cpu', 'wasm', 'webgpu']) {
    it(`the ${name} backend refuses bf16 before it starts`, async () => {
      const before = tf.getBackend();
      await assert.rejects(selectBackend(name, { precision: 'bf16' }), (e: unknown) => e instanceof PrecisionError &&
        e.message === `precision bf16 is not available on the ${name} backend (it computes in float32 only); bf16 autocast runs on --backend libtorch, or use --precision fp32`);
      assert.equal(tf.getBackend(), before);
    });
  }

  it('setActivePrecision refuses bf16 on a backend without autocast and accepts fp32', async () => {
    const before = tf.getBackend();
    try {
      await selectBackend('cpu');
      assert.throws(() => setActivePrecision('bf16'), { message: /^precision bf16 is not available on the cpu backend/ });
      setActivePrecision('fp32');
    } finally {
      await shutdownBackend();
      await tf.setBackend(before);
    }
  });

  it('auto with bf16 and no libtorch addon: a PrecisionError with libtorch\'s reason, no fallback to a float32 backend', function () {
    this.timeout(60_000);
    const script = [
      "const { selectBackend } = require('./src/backends');",
      "selectBackend('auto', { threads: 1, precision: 'bf16' }).then((i) => { console.log(JSON.stringify({ picked: i.name })); },",
      "  (e) => { console.log(JSON.stringify({ error: e.message, name: e.name })); });",
    ].join('\n');
    const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
      cwd: path.resolve(__dirname, '..', '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DISTILLERY_LIBTORCH_ADDON: '/no-such-dir/distillery_libtorch.node' },
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { picked?: string; error?: string; name?: string };
    assert.equal(r.picked, undefined, 'no backend may be picked');
    assert.equal(r.name, 'PrecisionError');
    assert.match(r.error ?? '', /^precision bf16 needs the libtorch backend \(the only one with bf16 autocast\), which is not available here \(libtorch: the native addon \/no-such-dir\/distillery_libtorch\.node could not be loaded: .*\); use --precision fp32$/);
  });

  const canBf16 = libtorchUnavailableReason() === undefined && nativeBf16Flags().length > 0;
  (canBf16 ? it : it.skip)('libtorch with bf16 (auto and named) switches the addon\'s autocast and says so', async () => {
    const before = tf.getBackend();
    try {
      const auto = await selectBackend('auto', { threads: 1, precision: 'bf16' });
      assert.equal(auto.name, 'libtorch', 'auto with bf16 means libtorch');
      assert.equal(auto.precision, 'bf16');
      assert.match(auto.description, /, bf16 autocast\)$/);
      assert.equal((tf.backend() as LibtorchBackend).precision(), 'bf16');
      setActivePrecision('fp32');
      assert.equal((tf.backend() as LibtorchBackend).precision(), 'fp32');
      const fp32 = await selectBackend('libtorch', { threads: 1 });
      assert.equal(fp32.precision, 'fp32');
      assert.doesNotMatch(fp32.description, /bf16/);
    } finally {
      (tf.backend() as LibtorchBackend).setPrecision('fp32');
      await shutdownBackend();
      await tf.setBackend(before);
    }
  });
});
