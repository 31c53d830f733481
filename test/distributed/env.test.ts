import { strict as assert } from 'node:assert';
import { readDistributedEnv } from '../../src/distributed/env';
import { DistributedError } from '../../src/errors';

const master = { MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500' };

function check(actual: unknown) {
  return { to: { equal: (e: unknown) => assert.deepEqual(actual, e), deep: { equal: (e: unknown) => assert.deepEqual(actual, e) } } };
}

function fails(env: Record<string, string>): string {
  try {
    readDistributedEnv(env);
  } catch (err) {
    assert.ok(err instanceof DistributedError);
    return (err as Error).message;
  }
  throw new Error('expected a DistributedError');
}

describe('distributed/env: launcher variables', () => {
  it('no launcher variables: a single-process run', () => {
    check(readDistributedEnv({ PATH: '/usr/bin' })).to.equal(undefined);
  });

  it('torchrun-style', () => {
    check(readDistributedEnv({ WORLD_SIZE: '8', RANK: '5', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '4', ...master })).to.deep.equal({
      launcher: 'torchrun', rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: '10.0.0.1', masterPort: 29500,
    });
  });

  it('torchrun-style with WORLD_SIZE=1 is a single-process run', () => {
    check(readDistributedEnv({ WORLD_SIZE: '1', RANK: '0', LOCAL_RANK: '0' })).to.equal(undefined);
  });

  it('Slurm-style (srun), with the per-node task list', () => {
    check(readDistributedEnv({ SLURM_NTASKS: '8', SLURM_PROCID: '6', SLURM_LOCALID: '2', SLURM_NTASKS_PER_NODE: '4(x2)', ...master })).to.deep.equal({
      launcher: 'slurm', rank: 6, worldSize: 8, localRank: 2, localWorldSize: 4, masterAddr: '10.0.0.1', masterPort: 29500,
    });
  });

  it('Open MPI-style (mpirun)', () => {
    check(
      readDistributedEnv({ OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2', ...master }),
    ).to.deep.equal({ launcher: 'mpirun', rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, masterAddr: '10.0.0.1', masterPort: 29500 });
  });

  it('torchrun variables take precedence over Slurm ones (torchrun inside an srun allocation)', () => {
    const env = readDistributedEnv({ WORLD_SIZE: '2', RANK: '1', LOCAL_RANK: '1', SLURM_NTASKS: '1', SLURM_PROCID: '0', ...master });
    check(env?.launcher).to.equal('torchrun');
    check(env?.rank).to.equal(1);
  });

  it('RANK without WORLD_SIZE: an error naming the missing variable', () => {
    check(fails({ RANK: '1', ...master })).to.equal('the torchrun environment is incomplete:\n  - WORLD_SIZE is not set (found RANK=1)');
  });

  it('every problem is reported at once: rank out of range, no master address, bad port', () => {
    check(fails({ WORLD_SIZE: '2', RANK: '2', LOCAL_RANK: '0', MASTER_PORT: 'http' })).to.equal(
      'the torchrun environment is incomplete:\n' +
        '  - rank 2 is not below the world size 2\n' +
        '  - MASTER_ADDR is not set (the host of rank 0)\n' +
        '  - MASTER_PORT must be an integer ≥ 1 (found "http")',
    );
  });

  it('Slurm without MASTER_ADDR/MASTER_PORT says what to set', () => {
    check(fails({ SLURM_NTASKS: '2', SLURM_PROCID: '0', SLURM_LOCALID: '0' })).to.equal(
      'the slurm environment is incomplete:\n' +
        '  - MASTER_ADDR is not set (the host of rank 0)\n' +
        '  - MASTER_PORT is not set (a free TCP port on the host of rank 0)',
    );
  });

  it('Open MPI with a rank but no size, and a port above 65535', () => {
    check(fails({ OMPI_COMM_WORLD_RANK: '0', MASTER_ADDR: 'h', MASTER_PORT: '70000' })).to.equal(
      'the mpirun environment is incomplete:\n  - OMPI_COMM_WORLD_SIZE is not set\n  - MASTER_PORT must be at most 65535 (found 70000)',
    );
  });
});
