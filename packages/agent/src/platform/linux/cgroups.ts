import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import type { CgroupRef } from '../types.js';
import { firstLine, run } from './exec.js';

/** nft names cgroups relative to this directory, whatever the layout (unified or hybrid). */
const NFT_CGROUP_ROOT = '/sys/fs/cgroup';
const ADOPTED = 'cordon-allowed';

/** Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid systems). */
export async function cgroup2Mount(mountinfo?: string): Promise<string | null> {
  const text = mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8'));
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.split(' ')[0] === 'cgroup2') return left!.split(' ')[4] ?? null;
  }
  return null;
}

/** A cgroup path such as `/system.slice/sshd.service` as nft names it, given the v2 mount. */
export function cgroupRef(mount: string, cgroupPath: string): CgroupRef | null {
  const rel = relative(NFT_CGROUP_ROOT, mount);
  if (rel.startsWith('..')) return null;
  const parts = cgroupPath.split('/').filter(Boolean);
  return { path: posix.join(rel, ...parts), level: parts.length };
}

export async function unitCgroup(unit: string): Promise<CgroupRef | { error: string }> {
  const mount = await cgroup2Mount();
  if (!mount) return { error: 'this device has no cgroup v2 hierarchy' };
  const r = await run('systemctl', ['show', '--property=ControlGroup', '--value', '--', unit], { timeoutMs: 5000 });
  if (r.code === 127) return { error: 'systemd is not available here' };
  if (r.code !== 0) return { error: `systemctl could not describe ${unit}: ${firstLine(r.stderr)}` };
  const path = r.stdout.trim();
  if (!path) return { error: `${unit} is not running` };
  const ref = cgroupRef(mount, path);
  if (!ref || !existsSync(join(mount, path))) return { error: `the cgroup of ${unit} (${path}) is not reachable under ${NFT_CGROUP_ROOT}` };
  return ref;
}

/**
 * The original cgroup of each adopted process, so release can put it back — kept in /run, so an
 * agent restart or the break-glass command (another process) still knows, and a reboot (when the
 * processes are gone anyway) forgets.
 */
const ORIGINS_FILE = '/run/cordon/adopted-origins.json';

async function loadOrigins(): Promise<Map<number, string>> {
  try {
    return new Map(Object.entries(JSON.parse(await readFile(ORIGINS_FILE, 'utf8')) as Record<string, string>).map(([pid, path]) => [Number(pid), path]));
  } catch {
    return new Map();
  }
}

async function saveOrigins(origins: Map<number, string>): Promise<void> {
  await mkdir('/run/cordon', { recursive: true, mode: 0o700 });
  await writeFile(ORIGINS_FILE, JSON.stringify(Object.fromEntries(origins)), { mode: 0o600 });
}

export async function adoptPrograms(programs: string[]): Promise<{ cgroup: CgroupRef; processes: number } | { error: string }> {
  const mount = await cgroup2Mount();
  if (!mount) return { error: 'this device has no cgroup v2 hierarchy' };
  const cgroup = cgroupRef(mount, ADOPTED);
  if (!cgroup) return { error: `the cgroup v2 hierarchy (${mount}) is not under ${NFT_CGROUP_ROOT}` };
  const dir = join(mount, ADOPTED);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    return { error: `could not create ${dir}: ${(e as Error).message}` };
  }
  const wanted = new Set(programs);
  const origins = await loadOrigins();
  let processes = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const exe = (await readlink(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, '');
      if (!wanted.has(exe)) continue;
      const current = /^0::(.*)$/m.exec(await readFile(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? '/';
      if (current !== `/${ADOPTED}`) {
        await writeFile(join(dir, 'cgroup.procs'), String(pid));
        origins.set(pid, current);
      }
      processes++;
    } catch {
      // Gone meanwhile, a kernel thread, or not movable: nothing to adopt.
    }
  }
  await saveOrigins(origins).catch(() => undefined);
  return { cgroup, processes };
}

export async function releasePrograms(): Promise<void> {
  const mount = await cgroup2Mount();
  if (!mount) return;
  const dir = join(mount, ADOPTED);
  if (!existsSync(dir)) return;
  const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number);
  const origins = await loadOrigins();
  for (const pid of pids) {
    const back = origins.get(pid) ?? '/';
    try {
      await writeFile(join(mount, back, 'cgroup.procs'), String(pid));
    } catch {
      // Its old cgroup is gone: the root always exists.
      await writeFile(join(mount, 'cgroup.procs'), String(pid)).catch(() => undefined);
    }
    origins.delete(pid);
  }
  await rmdir(dir).catch(() => undefined);
  await rm(ORIGINS_FILE, { force: true });
}
