import { toCsv } from '../format.js';
import { parseUnitFile, unitValue } from '../parsers/systemd.js';
import type { CollectContext, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './common.js';
import { enabledUnits } from './autoruns.js';

/** One row of Services.csv. */
export interface ServiceRow {
  name: string;
  kind: 'systemd' | 'sysv';
  enabled: string;
  load: string;
  active: string;
  sub: string;
  description: string;
  execStart: string;
  user: string;
  unitFile: string;
}

const SYSTEM_UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** `systemctl list-units` rows (plain, no legend): unit load active sub description. */
export function parseListUnits(text: string): Map<string, { load: string; active: string; sub: string; description: string }> {
  const out = new Map<string, { load: string; active: string; sub: string; description: string }>();
  for (const line of text.split('\n')) {
    const m = /^\s*[●*]?\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (m && m[1] !== 'UNIT') out.set(m[1]!, { load: m[2]!, active: m[3]!, sub: m[4]!, description: m[5]!.trim() });
  }
  return out;
}

/**
 * Services from the unit files on disk (so the list is complete even when systemd is not PID 1),
 * joined with systemd's live states when systemctl can tell them, plus SysV init scripts.
 */
export async function listServices(ctx: CollectContext): Promise<{ rows: ServiceRow[]; live: boolean }> {
  const enabled = new Set((await enabledUnits(ctx)).map((e) => e.unit));
  const r = await ctx.run('systemctl', ['list-units', '--type=service', '--all', '--no-pager', '--no-legend', '--plain']);
  const live = r.code === 0 ? parseListUnits(r.stdout) : new Map();
  const rows = new Map<string, ServiceRow>();
  for (const dir of SYSTEM_UNIT_DIRS) {
    for (const n of ((await ctx.readDir(dir)) ?? []).sort()) {
      if (!n.endsWith('.service') || rows.has(n)) continue;
      const p = `${dir}/${n}`;
      const st = await ctx.lstat(p);
      if (!st) continue;
      const target = st.isSymbolicLink() ? await ctx.readlink(p) : null;
      const u = target === '/dev/null' ? {} : parseUnitFile((await ctx.readText(p).catch(() => null)) ?? '');
      const l = live.get(n);
      rows.set(n, {
        name: n,
        kind: 'systemd',
        enabled: target === '/dev/null' ? 'masked' : enabled.has(n) ? 'enabled' : n.includes('@') ? 'template' : 'disabled',
        load: l?.load ?? '',
        active: l?.active ?? '',
        sub: l?.sub ?? '',
        description: l?.description || unitValue(u, 'Unit', 'Description'),
        execStart: unitValue(u, 'Service', 'ExecStart'),
        user: unitValue(u, 'Service', 'User'),
        unitFile: target && target !== '/dev/null' ? `${p} -> ${target}` : p,
      });
    }
  }
  for (const [n, l] of live) {
    if (!rows.has(n)) rows.set(n, { name: n, kind: 'systemd', enabled: '', load: l.load, active: l.active, sub: l.sub, description: l.description, execStart: '', user: '', unitFile: '(generated or transient)' });
  }
  const rc = ((await ctx.readDir('/etc/rc2.d')) ?? []).concat((await ctx.readDir('/etc/rc3.d')) ?? []);
  for (const n of ((await ctx.readDir('/etc/init.d')) ?? []).sort()) {
    if (n.startsWith('.') || n === 'README' || n === 'skeleton' || rows.has(`${n}.service`)) continue;
    rows.set(n, { name: n, kind: 'sysv', enabled: rc.some((x) => x.startsWith('S') && x.slice(3) === n) ? 'enabled' : 'disabled', load: '', active: '', sub: '', description: '', execStart: `/etc/init.d/${n}`, user: '', unitFile: `/etc/init.d/${n}` });
  }
  return { rows: [...rows.values()].sort((a, b) => a.name.localeCompare(b.name)), live: r.code === 0 };
}

/** Services: every systemd service and SysV script with its state. */
export const services: Collector = {
  folder: 'Services',
  name: 'services',
  source: 'systemctl list-units --type=service --all; unit files in systemd search path; /etc/init.d',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    const { rows, live } = await listServices(ctx);
    yield {
      name: 'Services.csv',
      source: `${live ? 'systemctl list-units --type=service --all --plain; ' : 'systemd is not running: states from unit files only; '}unit files; /etc/init.d`,
      content: toCsv(['name', 'kind', 'enabled', 'load', 'active', 'sub', 'description', 'execStart', 'user', 'unitFile'], rows),
    };
  },
};
