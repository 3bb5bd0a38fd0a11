import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import type { FileId, FileProcess, RunningFile } from '../types.js';
import { exeTarget, mappedMemory, parseMaps } from './scan-parsers.js';

const key = (dev: number, ino: number) => `${dev}:${ino}`;

/**
 * The running processes whose program (/proc/<pid>/exe) or a mapped file (/proc/<pid>/maps) is one
 * of `files`, by device and inode: a deleted or replaced file is still found. One pass over /proc.
 */
export async function linuxProcessesUsing(files: readonly FileId[]): Promise<Map<string, FileProcess[]>> {
  const wanted = new Set(files.map((f) => key(f.dev, f.ino)));
  const out = new Map<string, FileProcess[]>();
  if (wanted.size === 0) return out;
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number);
  await Promise.all(
    pids.map(async (pid) => {
      const hits = new Map<string, 'exe' | 'map'>();
      const exe = await stat(`/proc/${pid}/exe`).catch(() => null);
      if (exe && wanted.has(key(exe.dev, exe.ino))) hits.set(key(exe.dev, exe.ino), 'exe');
      const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
      for (const m of parseMaps(maps)) if (wanted.has(key(m.dev, m.inode)) && !hits.has(key(m.dev, m.inode))) hits.set(key(m.dev, m.inode), 'map');
      if (hits.size === 0) return;
      const info = await describe(pid);
      if (!info) return;
      for (const [k, via] of hits) out.set(k, [...(out.get(k) ?? []), { ...info, via }]);
    }),
  );
  for (const list of out.values()) list.sort((a, b) => a.pid - b.pid);
  return out;
}

/**
 * Every file running processes run (/proc/<pid>/exe) or map (/proc/<pid>/maps), each once by
 * device and inode, with a magic link its bytes can be read through even when it was deleted.
 * Memory that only looks like a file (SysV shared memory, devices) is left out.
 */
export async function runningFiles(): Promise<RunningFile[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number);
  const out = new Map<string, RunningFile>();
  for (const pid of pids) {
    try {
      const t = exeTarget(await readlink(`/proc/${pid}/exe`));
      const st = await stat(`/proc/${pid}/exe`);
      if (!out.has(key(st.dev, st.ino))) out.set(key(st.dev, st.ino), { path: t.path, deleted: t.deleted, via: `/proc/${pid}/exe`, dev: st.dev, ino: st.ino });
    } catch {
      continue; // a kernel thread, or the process is gone
    }
    const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
    for (const m of parseMaps(maps)) {
      if (mappedMemory(m.path) || out.has(key(m.dev, m.inode))) continue;
      out.set(key(m.dev, m.inode), { path: m.path, deleted: m.deleted, via: `/proc/${pid}/map_files/${m.range}`, dev: m.dev, ino: m.inode });
    }
  }
  return [...out.values()];
}

/** Start time of a process in clock ticks after boot (field 22 of /proc/<pid>/stat), or null when it is gone. */
async function startTicksOf(pid: number): Promise<number | null> {
  const s = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (s === null) return null;
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return rest[19] ? Number(rest[19]) : null;
}

/** SIGKILL for one process, checked first to be the one that was found (a pid can be reused). */
export async function killProcess(p: { pid: number; startTicks: number | null }): Promise<'killed' | 'gone'> {
  const now = await startTicksOf(p.pid);
  if (now === null || (p.startTicks !== null && now !== p.startTicks)) return 'gone';
  try {
    process.kill(p.pid, 'SIGKILL');
    return 'killed';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
    throw e;
  }
}

async function describe(pid: number): Promise<Omit<FileProcess, 'via'> | null> {
  const [cmdline, status, stat_] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`).catch(() => null),
    readFile(`/proc/${pid}/status`, 'utf8').catch(() => null),
    readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null),
  ]);
  if (cmdline === null || status === null) return null;
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1];
  // Fields after the command name (which may hold spaces and parentheses): state is field 3, start time 22.
  const rest = stat_?.slice(stat_.lastIndexOf(')') + 2).split(' ') ?? [];
  return {
    pid,
    ppid: Number(field('PPid') ?? 0),
    uid: Number(field('Uid') ?? -1),
    commandLine: cmdline.toString('utf8').replace(/\0+$/, '').split('\0').join(' ').slice(0, 8192),
    startTicks: rest[19] ? Number(rest[19]) : null,
  };
}
