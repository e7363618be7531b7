import type { Redis } from 'ioredis';

/** Resources used so far by this process and by the Redis nodes. */
export interface UsageSnapshot {
  /** This process's CPU time in microseconds: `process.cpuUsage()` user + system, all threads (GC included). */
  readonly clientCpuUs: number;
  /** The nodes' CPU time in microseconds: `INFO cpu` `used_cpu_user` + `used_cpu_sys`, summed over the nodes. */
  readonly redisCpuUs: number;
  /** Commands the nodes ran (`INFO commandstats` calls, summed), not counting the bench's own INFO/CONFIG. */
  readonly redisCalls: number;
}

/** An all-zero snapshot, for runs that do not measure usage. */
export const NO_USAGE: UsageSnapshot = { clientCpuUs: 0, redisCpuUs: 0, redisCalls: 0 };

/**
 * Takes a snapshot. Redis is read first and the process last on the way in (`isEnd` false), and the
 * other way round on the way out, so the INFO round trips stay outside the client's measured time.
 */
export async function takeUsageSnapshot(monitors: readonly Redis[], isEnd: boolean): Promise<UsageSnapshot> {
  if (isEnd) {
    const clientCpuUs = processCpuUs();
    return { clientCpuUs, ...(await readRedis(monitors)) };
  }
  const redis = await readRedis(monitors);
  return { clientCpuUs: processCpuUs(), ...redis };
}

/** What was used between two snapshots. */
export function usageBetween(start: UsageSnapshot, end: UsageSnapshot): UsageSnapshot {
  return {
    clientCpuUs: end.clientCpuUs - start.clientCpuUs,
    redisCpuUs: end.redisCpuUs - start.redisCpuUs,
    redisCalls: end.redisCalls - start.redisCalls,
  };
}

function processCpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

async function readRedis(monitors: readonly Redis[]): Promise<Pick<UsageSnapshot, 'redisCpuUs' | 'redisCalls'>> {
  const infos = (await Promise.all(monitors.map((monitor) => monitor.call('INFO', 'cpu', 'commandstats')))) as string[];
  let redisCpuUs = 0;
  let redisCalls = 0;
  for (const info of infos) {
    redisCpuUs += (secondsField(info, 'used_cpu_user') + secondsField(info, 'used_cpu_sys')) * 1e6;
    for (const [, command, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (command !== 'info' && !command?.startsWith('config')) redisCalls += Number(calls);
    }
  }
  return { redisCpuUs, redisCalls };
}

function secondsField(info: string, field: string): number {
  const match = new RegExp(`^${field}:([0-9.]+)`, 'm').exec(info);
  if (match === null) throw new Error(`INFO cpu has no ${field} field`);
  return Number(match[1]);
}
