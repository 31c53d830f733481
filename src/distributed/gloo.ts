/**
 * `GlooProcessGroup`: the ProcessGroup seam over torch.distributed's c10d engine — a `c10d::TCPStore`
 * rendezvous hosted by rank 0 and `c10d::ProcessGroupGloo` over TCP — from the native addon
 * distillery_c10d.node (native/libtorch/src/process_group.cc, built with the libtorch backend).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DistributedError } from '../errors';
import type { ProcessGroup, ReduceOp } from './process-group';

interface NativeGroup {
  connect(addr: string, port: number, rank: number, world: number, timeoutMs: number, rendezvousMs: number, deviceHost: string, deviceInterface: string): Promise<void>;
  allReduce(buffer: Float32Array, op: ReduceOp): Promise<void>;
  broadcast(buffer: Float32Array, root: number): Promise<void>;
  allGather(buffer: Float32Array, out: Float32Array): Promise<void>;
  barrier(): Promise<void>;
  probe(windowMs: number): Promise<number[]>;
  close(): void;
}
interface C10dAddon {
  ProcessGroup: new () => NativeGroup;
}

export const C10D_ADDON_FILE = 'distillery_c10d.node';

function findAddon(): string | undefined {
  if (process.env.DISTILLERY_C10D_ADDON) return process.env.DISTILLERY_C10D_ADDON;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'libtorch', 'build', 'Release', C10D_ADDON_FILE);
    if (fs.existsSync(candidate)) return candidate;
    if (fs.existsSync(path.join(dir, 'package.json'))) return undefined;
    dir = path.dirname(dir);
  }
  return undefined;
}

let cached: C10dAddon | undefined;

/** Loads distillery_c10d.node or throws a DistributedError saying what to install. */
export function loadC10d(): C10dAddon {
  if (cached) return cached;
  const file = findAddon();
  if (!file) {
    throw new DistributedError(
      `distributed runs need the native addon ${C10D_ADDON_FILE}, which is not built: install libtorch-dev and libgloo-dev ` +
        '(apt-get install libtorch-dev libgloo-dev libopenblas0-openmp), then run `npm run build:native`',
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(file) as C10dAddon;
  } catch (err) {
    throw new DistributedError(`the native addon ${file} could not be loaded: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  return cached;
}

export interface GlooOptions {
  rank: number;
  worldSize: number;
  localRank?: number;
  localWorldSize?: number;
  masterAddr: string;
  masterPort: number;
  /** Per-collective timeout (ms); a dead or hung peer is reported after it. */
  timeoutMs: number;
  /** Timeout of the first rendezvous (ms): workers may start far apart. */
  rendezvousTimeoutMs: number;
  /** Network interface for Gloo's sockets (GLOO_SOCKET_IFNAME); default: this host's address, loopback when the master is. */
  socketInterface?: string;
}

function isLoopback(addr: string): boolean {
  return addr === 'localhost' || addr.startsWith('127.') || addr === '::1';
}

export class GlooProcessGroup implements ProcessGroup {
  readonly backend = 'gloo';
  private closed = false;

  private constructor(
    private readonly native: NativeGroup,
    readonly rank: number,
    readonly worldSize: number,
    readonly localRank: number,
    readonly localWorldSize: number,
    readonly timeoutMs: number,
  ) {}

  /** Rendezvous with the other ranks (rank 0 hosts the store at masterAddr:masterPort). */
  static async connect(o: GlooOptions): Promise<GlooProcessGroup> {
    const addon = loadC10d();
    const native = new addon.ProcessGroup();
    const host = isLoopback(o.masterAddr) ? '127.0.0.1' : '';
    try {
      await native.connect(o.masterAddr, o.masterPort, o.rank, o.worldSize, o.timeoutMs, o.rendezvousTimeoutMs, host, o.socketInterface ?? '');
    } catch (err) {
      const msg = (err as Error).message;
      const where = `${o.masterAddr}:${o.masterPort}`;
      if (/address already in use/i.test(msg)) {
        throw new DistributedError(`rank ${o.rank}: the rendezvous port ${where} is in use; choose another MASTER_PORT (or leave it out with --nproc-per-node, which picks a free one)`, { cause: err });
      }
      if (/timed? ?out|timeout/i.test(msg)) {
        throw new DistributedError(`rank ${o.rank}: the rendezvous at ${where} timed out after ${(o.rendezvousTimeoutMs / 1000).toFixed(0)} s waiting for ${o.worldSize} ranks (${msg.split('\n')[0]})`, { cause: err });
      }
      throw new DistributedError(`rank ${o.rank}: the rendezvous at ${where} failed: ${msg.split('\n')[0]}`, { cause: err });
    }
    return new GlooProcessGroup(native, o.rank, o.worldSize, o.localRank ?? o.rank, o.localWorldSize ?? o.worldSize, o.timeoutMs);
  }

  private async guard<T>(what: string, body: () => Promise<T>): Promise<T> {
    if (this.closed) throw new DistributedError(`rank ${this.rank}: ${what} on a closed process group`);
    try {
      return await body();
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0];
      let missing: number[] = [];
      try {
        missing = await this.native.probe(2500);
      } catch {
        // The probe itself failed: report the collective's error alone.
      }
      const who = missing.length === 0 ? 'no rank missed its heartbeat' : `rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} stopped responding`;
      throw new DistributedError(`rank ${this.rank}: ${what} failed (timeout ${(this.timeoutMs / 1000).toFixed(0)} s): ${who} — ${msg}`, { cause: err });
    }
  }

  allReduce(buffer: Float32Array, op: ReduceOp): Promise<void> {
    return this.guard('allReduce', () => this.native.allReduce(buffer, op));
  }

  broadcast(buffer: Float32Array, root: number): Promise<void> {
    return this.guard('broadcast', () => this.native.broadcast(buffer, root));
  }

  allGather(buffer: Float32Array): Promise<Float32Array> {
    const out = new Float32Array(buffer.length * this.worldSize);
    return this.guard('allGather', async () => {
      await this.native.allGather(buffer, out);
      return out;
    });
  }

  barrier(): Promise<void> {
    return this.guard('barrier', () => this.native.barrier());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}
