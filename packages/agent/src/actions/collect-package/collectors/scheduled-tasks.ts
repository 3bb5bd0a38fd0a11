import { toCsv } from '../format.js';
import { parseAnacrontab, parseAtJob, parseCrontab, type ScheduledTask } from '../parsers/cron.js';
import { parseUnitFile, unitValue } from '../parsers/systemd.js';
import type { CollectContext, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './common.js';
import { enabledUnits, UNIT_DIRS } from './autoruns.js';

const scheduledTasksCollectorSource = '/etc/crontab, /etc/cron.d, /var/spool/cron, /etc/anacrontab, /etc/cron.{hourly,daily,weekly,monthly}, systemd *.timer units, /var/spool/cron/atjobs';

const COLUMNS: (keyof ScheduledTask)[] = ['type', 'file', 'user', 'schedule', 'command', 'enabled'];

/** Every cron entry, anacron job, systemd timer and at job on the device. */
export async function scheduledTasks(ctx: CollectContext): Promise<ScheduledTask[]> {
  const tasks: ScheduledTask[] = [];
  const read = async (file: string, parse: (t: string) => ScheduledTask[]) => {
    const t = await ctx.readText(file).catch(() => null);
    if (t !== null) tasks.push(...parse(t));
  };
  await read('/etc/crontab', (t) => parseCrontab(t, { file: '/etc/crontab', system: true }));
  for (const n of ((await ctx.readDir('/etc/cron.d')) ?? []).sort()) await read(`/etc/cron.d/${n}`, (t) => parseCrontab(t, { file: `/etc/cron.d/${n}`, system: true }));
  // Debian keeps user crontabs in /var/spool/cron/crontabs, Red Hat in /var/spool/cron.
  for (const dir of ['/var/spool/cron/crontabs', '/var/spool/cron', '/var/spool/cron/tabs']) {
    for (const n of ((await ctx.readDir(dir)) ?? []).sort()) {
      const st = await ctx.stat(`${dir}/${n}`);
      if (st?.isFile()) await read(`${dir}/${n}`, (t) => parseCrontab(t, { file: `${dir}/${n}`, system: false, user: n }));
    }
  }
  await read('/etc/anacrontab', (t) => parseAnacrontab(t, '/etc/anacrontab'));
  for (const period of ['hourly', 'daily', 'weekly', 'monthly']) {
    for (const n of ((await ctx.readDir(`/etc/cron.${period}`)) ?? []).sort()) {
      if (n.startsWith('.')) continue;
      tasks.push({ type: 'cron', file: `/etc/cron.${period}/${n}`, user: 'root', schedule: `@${period} (run-parts)`, command: `/etc/cron.${period}/${n}`, enabled: 'yes' });
    }
  }

  const enabled = new Set((await enabledUnits(ctx)).map((e) => e.unit));
  const seen = new Set<string>();
  for (const dir of UNIT_DIRS) {
    for (const n of ((await ctx.readDir(dir)) ?? []).sort()) {
      if (!n.endsWith('.timer') || seen.has(n)) continue;
      seen.add(n); // the first directory in systemd's search order wins
      const text = await ctx.readText(`${dir}/${n}`).catch(() => null);
      if (text === null) continue;
      const u = parseUnitFile(text);
      const timer = u.Timer ?? {};
      const schedule = ['OnCalendar', 'OnBootSec', 'OnStartupSec', 'OnActiveSec', 'OnUnitActiveSec', 'OnUnitInactiveSec']
        .flatMap((k) => (timer[k] ?? []).map((v) => `${k}=${v}`))
        .join('; ');
      const target = unitValue(u, 'Timer', 'Unit') || n.replace(/\.timer$/, '.service');
      tasks.push({ type: 'systemd-timer', file: `${dir}/${n}`, user: dir.includes('/user') ? '(user)' : 'root', schedule, command: target, enabled: enabled.has(n) ? 'yes' : 'no' });
    }
  }

  for (const dir of ['/var/spool/cron/atjobs', '/var/spool/at']) {
    for (const n of ((await ctx.readDir(dir)) ?? []).sort()) {
      const st = await ctx.stat(`${dir}/${n}`);
      if (!st?.isFile() || n.startsWith('.')) continue;
      const text = (await ctx.readText(`${dir}/${n}`).catch(() => null)) ?? '';
      tasks.push({ type: 'at', file: `${dir}/${n}`, user: String(st.uid), schedule: `queued ${st.mtime.toISOString()}`, command: parseAtJob(text), enabled: st.mode & 0o100 ? 'yes' : 'no' });
    }
  }
  return tasks;
}

/** Scheduled tasks: cron, anacron, systemd timers and at jobs in one CSV. */
export const scheduledTasksCollector: Collector = {
  folder: 'Scheduled tasks',
  name: 'scheduled-tasks',
  source: scheduledTasksCollectorSource,
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    yield { name: 'ScheduledTasks.csv', source: scheduledTasksCollectorSource, content: toCsv(COLUMNS, await scheduledTasks(ctx)) };
  },
};
