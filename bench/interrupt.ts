/**
 * How fast Ctrl-C takes effect on a real run: starts `distillery run <graph>` with progress lines,
 * sends SIGINT a given time after the watched node's first progress line, and prints the delay from
 * the signal to the exit, the exit code, the progress lines the node printed before the signal, and
 * the checkpoint it saved. With `--resume-after`, then resumes the run to its end and prints the
 * node's progress lines of the resumed part and the exit code.
 *
 *   node dist/bench/interrupt.js --graph graphs/mnist/distill.json5 --node stage-one --after 8 --backend auto
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';

interface Outcome { code: number | null; output: string; signalAt?: number; exitAt: number }

function run(args: string[], watch: string, afterMs: number | undefined): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'src', 'cli', 'main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let signalAt: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const onData = (d: Buffer): void => {
      const text = d.toString();
      output += text;
      process.stderr.write(text);
      if (afterMs !== undefined && !timer && output.includes(`[${watch}] `)) {
        timer = setTimeout(() => {
          signalAt = performance.now();
          child.kill('SIGINT');
        }, afterMs);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, output, signalAt, exitAt: performance.now() });
    });
  });
}

function progressLines(output: string, node: string): string[] {
  return output.split('\n').filter((l) => new RegExp(`^\\[${node}\\] .* \\d+/\\d+`).test(l));
}

async function main(): Promise<void> {
  const o = new Command()
    .requiredOption('--graph <file>', 'graph file')
    .requiredOption('--node <id>', 'node whose first progress line starts the clock')
    .option('--after <seconds>', 'seconds after that line to send SIGINT', '8')
    .option('--backend <name>', 'backend', 'auto')
    .option('--out <dir>', 'run folder (default: a new temporary folder)')
    .option('--resume-after', 'resume the interrupted run to its end')
    .parse().opts<{ graph: string; node: string; after: string; backend: string; out?: string; resumeAfter?: boolean }>();
  const out = o.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'interrupt-'));
  const base = ['run', o.graph, '--backend', o.backend, '--out', out, '--progress', 'lines'];
  const first = await run(base, o.node, Number(o.after) * 1000);
  const lines = progressLines(first.output, o.node);
  const ckpt = path.join(out, o.node, 'checkpoints');
  const saved = fs.existsSync(ckpt) ? fs.readdirSync(ckpt).filter((f) => f.endsWith('.safetensors')) : [];
  const summary: Record<string, unknown> = {
    cpu: os.cpus()[0]?.model, graph: o.graph, node: o.node, backend: o.backend, runDir: out, exitCode: first.code,
    signalToExitSeconds: first.signalAt !== undefined ? +((first.exitAt - first.signalAt) / 1000).toFixed(2) : null,
    progressLinesBeforeSignal: lines.length, lastProgressLine: lines[lines.length - 1] ?? null, checkpoints: saved,
  };
  if (o.resumeAfter) {
    const started = performance.now();
    const second = await run([...base, '--resume'], o.node, undefined);
    const resumedLines = progressLines(second.output, o.node);
    Object.assign(summary, { resumedExitCode: second.code, resumedSeconds: +((performance.now() - started) / 1000).toFixed(1), resumedProgressLines: resumedLines.length });
  }
  console.log(JSON.stringify(summary, null, 2));
}

void main();
