/**
 * The report as a person sees it: a tiny run through the real runtime (v fine-tune with validation
 * grids → stage one → stage two, two rounds → evaluate → report), whose report.html is opened in
 * headless Chromium (Debian's `chromium`, driven by puppeteer-core; no browser is downloaded). Checks
 * that every image decodes, every chart has its series, and the page logs no console errors. Skipped,
 * with a notice, where no Chromium is installed. Set REPORT_SCREENSHOT=<file.png> to keep a screenshot.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import puppeteer from 'puppeteer-core';
import { createRegistry } from '../../nodes/builtin-registry';
import { registerNodeType } from '../../src/registry/registry';
import { parseGraphText } from '../../src/graph/validate';
import { runGraph } from '../../src/runtime/executor';
import { writeLatentShard } from '../../src/io/shards';
import { tinyLatents } from '../helpers/tiny';
import { testFlatScorerNode, testTinyUNetNode } from '../helpers/test-node-types';

/** CHROMIUM_PATH, when set, is the only candidate (CHROMIUM_PATH=/nonexistent shows the skip). */
const BROWSERS = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The little of the DOM the page check uses (the tests compile without the DOM library). */
interface PageElement {
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): Iterable<PageElement> & { length: number };
  querySelector(selector: string): PageElement | null;
  textContent: string | null;
  alt: string;
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
}

function findBrowser(): string | undefined {
  return BROWSERS.find((p): p is string => !!p && fs.existsSync(p));
}

function graphText(shards: string): string {
  const data = (seed: number) => `{ type: 'latent-dataset', config: { path: '${shards}/train', testPath: '${shards}/test.safetensors', batchSize: 8, labelDropout: 0.1, nullClass: 3, numClasses: 3, seed: ${seed} } }`;
  return `{
  version: 1,
  name: 'tiny-report',
  seed: 3,
  nodes: {
    schedule: { type: 'noise-schedule', config: { betaSchedule: 'linear' } },
    unet: { type: 'test-tiny-unet' },
    'data-ft': ${data(1)},
    'data-s1': ${data(2)},
    'data-s2': ${data(3)},
    finetune: {
      type: 'v-finetune', config: { iterations: 4, lr: 1e-3, evalBatches: 1, evalBatchSize: 4, evalEvery: 1, logEvery: 1,
        validation: { every: 2, samplesPerClass: 2, steps: 2, guidanceScale: 2 } },
      inputs: { model: 'unet.model', schedule: 'schedule.schedule', batches: 'data-ft.batches', data: 'data-ft.data' },
    },
    'stage-one': {
      type: 'guidance-distillation', config: { iterations: 3, lr: 1e-3, guidanceScale: 2, evalBatches: 0, logEvery: 1 },
      inputs: { model: 'finetune.model', schedule: 'schedule.schedule', batches: 'data-s1.batches' },
    },
    'stage-two': {
      type: 'progressive-distillation',
      config: {
        baseSteps: 4, rounds: [{ steps: 2, iterations: 3 }, { steps: 1, iterations: 3 }], lr: 1e-3, replay: { blockBatches: 0, times: 1 },
        evalBatches: 1, evalBatchSize: 4, evalEvery: 1, logEvery: 1, validation: { every: 100, samplesPerClass: 2 },
      },
      inputs: { model: 'stage-one.model', schedule: 'schedule.schedule', batches: 'data-s2.batches', data: 'data-s2.data' },
    },
    scorer: { type: 'test-flat-scorer' },
    evaluate: {
      type: 'evaluate', config: { baseSteps: 4, teacherSteps: [2, 1], samplesPerClass: 2, classes: 3, batchSize: 6, guidanceScale: 2 },
      inputs: { schedule: 'schedule.schedule', classifier: 'scorer.classifier', data: 'data-s2.data', teacher: 'finetune.model', students: 'stage-two.students' },
    },
    report: { type: 'report', config: { print: false }, inputs: { metrics: 'evaluate.metrics' } },
  },
}`;
}

describe('report in a browser (headless Chromium)', () => {
  const browserPath = findBrowser();
  let tmp: string;
  before(function () {
    if (!browserPath) {
      process.stdout.write(`\n    NOTICE: no Chromium found (looked for ${BROWSERS.join(', ')}); the report browser test is SKIPPED. ` +
        'Install Debian\'s chromium (apt-get install chromium) or set CHROMIUM_PATH.\n\n');
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'report-browser-'));
  });
  after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

  it('shows a tiny run\'s report: every image decodes, every chart has its series, no console errors', async function () {
    this.timeout(300000);
    const train = tinyLatents(32, 1);
    await writeLatentShard(path.join(tmp, 'shards', 'train', 'a.safetensors'), train, { dtype: 'F32' });
    await writeLatentShard(path.join(tmp, 'shards', 'test.safetensors'), tinyLatents(12, 2), { dtype: 'F32' });
    const registry = createRegistry();
    registerNodeType(registry, testTinyUNetNode, 'test');
    registerNodeType(registry, testFlatScorerNode, 'test');
    const graph = await parseGraphText(graphText(path.join(tmp, 'shards')), path.join(tmp, 'tiny.json5'), { registry });
    const quiet = new PassThrough();
    quiet.resume();
    const run = await runGraph(graph, { registry, outDir: path.join(tmp, 'run'), progress: 'none', output: quiet, argv: ['test'] });
    assert.equal(run.status, 'completed', run.error?.message);
    assert.deepEqual(fs.readdirSync(path.join(run.runDir, 'finetune', 'validation')).sort(), ['step-2.png', 'step-4.png']);
    assert.deepEqual(fs.readdirSync(path.join(run.runDir, 'stage-two', 'validation')).sort(), ['step-3.png', 'step-6.png']);

    const browser = await puppeteer.launch({ executablePath: browserPath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
      page.on('pageerror', (err) => errors.push(String(err)));
      page.on('requestfailed', (req) => errors.push(`request failed: ${req.url().slice(0, 80)}`));
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(`file://${path.join(run.runDir, 'report.html')}`, { waitUntil: 'load' });
      const seen = await page.evaluate(() => {
        const document = (globalThis as unknown as { document: PageElement }).document;
        const images = [...document.querySelectorAll('img')].map((img) => ({ alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight }));
        const charts: Record<string, { lines: string[]; legend: string[]; dots: number }> = {};
        for (const svg of document.querySelectorAll('svg[data-chart]')) {
          charts[svg.getAttribute('data-chart')!] = {
            lines: [...svg.querySelectorAll('polyline[data-series]')].map((p) => p.getAttribute('data-series')!),
            legend: [...svg.querySelectorAll('[data-legend]')].map((t) => t.getAttribute('data-legend')!),
            dots: svg.querySelectorAll('circle').length,
          };
        }
        const rows = [...document.querySelectorAll('table.side tbody tr')].map((tr) => [tr.querySelector('th')!.textContent, tr.querySelectorAll('img').length]);
        const headings = [...document.querySelectorAll('h2')].map((h) => h.textContent);
        return { images, charts, rows, headings };
      });
      if (process.env.REPORT_SCREENSHOT) await page.screenshot({ path: process.env.REPORT_SCREENSHOT as `${string}.png`, fullPage: true });
      assert.deepEqual(errors, []);
      // Side by side: step counts 2 and 1, each with the teacher's and the student's grid.
      assert.deepEqual(seen.rows, [['2', 2], ['1', 2]]);
      // 4 evaluation grids + 1 newest validation grid of finetune + 1 per round of stage two; all decoded.
      assert.equal(seen.images.length, 7);
      for (const img of seen.images) assert.ok(img.complete && img.width > 0 && img.height > 0, `image "${img.alt}" did not decode`);
      assert.deepEqual(seen.headings, ['Teacher and student at equal step counts', 'FID and accuracy', 'Numbers', 'Training']);
      assert.deepEqual(seen.charts.fid.legend, ['teacher (DDIM, g=2)', 'distilled student']);
      assert.deepEqual(seen.charts.fid.lines, ['teacher (DDIM, g=2)', 'distilled student']);
      assert.deepEqual(seen.charts.accuracy.lines, ['teacher (DDIM, g=2)', 'distilled student']);
      assert.deepEqual(seen.charts['finetune/loss'].lines, ['loss']);
      assert.deepEqual(seen.charts['finetune/evalLoss'].lines, ['evaluation loss']);
      assert.deepEqual(seen.charts['stage-one/loss'].lines, ['loss']);
      assert.equal(seen.charts['stage-one/evalLoss'], undefined);
      assert.deepEqual(seen.charts['stage-two/loss'].lines, ['round 0 (2 steps)', 'round 1 (1 step)']);
      assert.deepEqual(seen.charts['stage-two/evalLoss'].lines, ['round 0 (2 steps)', 'round 1 (1 step)']);
    } finally {
      await browser.close();
    }
  });
});
