/**
 * Reading a data-parallel launch from the environment, with the conventions users already know:
 * - torchrun / accelerate / `distillery run --nproc-per-node`: WORLD_SIZE, RANK, LOCAL_RANK,
 *   LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT;
 * - Open MPI's mpirun: OMPI_COMM_WORLD_SIZE / _RANK / _LOCAL_RANK / _LOCAL_SIZE, plus MASTER_ADDR/MASTER_PORT;
 * - Slurm's srun: SLURM_NTASKS, SLURM_PROCID, SLURM_LOCALID, SLURM_NTASKS_PER_NODE, plus MASTER_ADDR/MASTER_PORT.
 * A world of one process is not distributed. A half-configured environment is an error naming every
 * problem at once.
 */
import { DistributedError } from '../errors';

export type Launcher = 'torchrun' | 'mpirun' | 'slurm';

export interface DistributedEnv {
  launcher: Launcher;
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

type Env = Record<string, string | undefined>;

const TORCHRUN = ['WORLD_SIZE', 'RANK', 'LOCAL_RANK'] as const;

function int(env: Env, name: string, problems: string[], min: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min) {
    problems.push(`${name} must be an integer ≥ ${min} (found "${v}")`);
    return undefined;
  }
  return Number(v);
}

/** `4(x2),3` → the count on the first node (Slurm's compressed per-node list). */
function slurmPerNode(v: string | undefined): number | undefined {
  const m = v?.match(/^(\d+)/);
  return m ? Number(m[1]) : undefined;
}

/** The launch described by `env`, or undefined for a single-process run. */
export function readDistributedEnv(env: Env = process.env): DistributedEnv | undefined {
  const problems: string[] = [];
  let launcher: Launcher;
  let rank: number | undefined;
  let world: number | undefined;
  let localRank: number | undefined;
  let localWorld: number | undefined;
  const torchrunSet = TORCHRUN.filter((n) => env[n] !== undefined && env[n] !== '');
  if (torchrunSet.length > 0) {
    launcher = 'torchrun';
    world = int(env, 'WORLD_SIZE', problems, 1);
    rank = int(env, 'RANK', problems, 0);
    localRank = int(env, 'LOCAL_RANK', problems, 0);
    localWorld = int(env, 'LOCAL_WORLD_SIZE', problems, 1);
    for (const n of ['WORLD_SIZE', 'RANK'] as const) {
      if (env[n] === undefined || env[n] === '') problems.push(`${n} is not set (found ${torchrunSet.map((s) => `${s}=${env[s]}`).join(', ')})`);
    }
  } else if (env.OMPI_COMM_WORLD_SIZE !== undefined || env.OMPI_COMM_WORLD_RANK !== undefined) {
    launcher = 'mpirun';
    world = int(env, 'OMPI_COMM_WORLD_SIZE', problems, 1);
    rank = int(env, 'OMPI_COMM_WORLD_RANK', problems, 0);
    localRank = int(env, 'OMPI_COMM_WORLD_LOCAL_RANK', problems, 0);
    localWorld = int(env, 'OMPI_COMM_WORLD_LOCAL_SIZE', problems, 1);
    if (env.OMPI_COMM_WORLD_SIZE === undefined) problems.push('OMPI_COMM_WORLD_SIZE is not set');
    if (env.OMPI_COMM_WORLD_RANK === undefined) problems.push('OMPI_COMM_WORLD_RANK is not set');
  } else if (env.SLURM_PROCID !== undefined && env.SLURM_NTASKS !== undefined) {
    launcher = 'slurm';
    world = int(env, 'SLURM_NTASKS', problems, 1);
    rank = int(env, 'SLURM_PROCID', problems, 0);
    localRank = int(env, 'SLURM_LOCALID', problems, 0);
    localWorld = slurmPerNode(env.SLURM_NTASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE);
  } else {
    return undefined;
  }
  if (problems.length === 0 && world === 1 && (rank ?? 0) === 0) return undefined;
  if (rank !== undefined && world !== undefined && rank >= world) problems.push(`rank ${rank} is not below the world size ${world}`);
  if (localRank !== undefined && localWorld !== undefined && localRank >= localWorld) problems.push(`local rank ${localRank} is not below the local world size ${localWorld}`);
  const masterAddr = env.MASTER_ADDR;
  if (masterAddr === undefined || masterAddr === '') problems.push('MASTER_ADDR is not set (the host of rank 0)');
  const masterPort = int(env, 'MASTER_PORT', problems, 1);
  if (env.MASTER_PORT === undefined || env.MASTER_PORT === '') problems.push('MASTER_PORT is not set (a free TCP port on the host of rank 0)');
  else if (masterPort !== undefined && masterPort > 65535) problems.push(`MASTER_PORT must be at most 65535 (found ${masterPort})`);
  if (problems.length > 0) {
    throw new DistributedError(`the ${launcher} environment is incomplete:\n  - ${problems.join('\n  - ')}`);
  }
  return {
    launcher,
    rank: rank!,
    worldSize: world!,
    localRank: localRank ?? rank!,
    localWorldSize: localWorld ?? world!,
    masterAddr: masterAddr!,
    masterPort: masterPort!,
  };
}
