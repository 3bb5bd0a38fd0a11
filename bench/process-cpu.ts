import { readFileSync } from 'node:fs';

/** Linux's clock ticks a second for /proc/<pid>/stat times (USER_HZ). */
const CLK_TCK = 100;

/** CPU seconds a process (all its threads) has used: steadier than a rate on a machine whose speed moves. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
