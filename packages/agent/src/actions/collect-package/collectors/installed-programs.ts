import { notPresent, toCsv } from '../format.js';
import { parseDpkgStatus, parseRpmQuery, RPM_QUERYFORMAT, type InstalledPackage } from '../parsers/dpkg.js';
import type { Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './common.js';

const COLUMNS: (keyof InstalledPackage)[] = ['name', 'version', 'architecture', 'status', 'installTime', 'source'];

/** Installed programs: dpkg's status database, or rpm's, as CSV. */
export const installedPrograms: Collector = {
  folder: 'Installed programs',
  name: 'installed-programs',
  source: '/var/lib/dpkg/status (install time: mtime of /var/lib/dpkg/info/<pkg>.list); rpm -qa --queryformat',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    let any = false;
    const status = await ctx.readText('/var/lib/dpkg/status');
    if (status !== null) {
      any = true;
      const rows: InstalledPackage[] = [];
      for (const p of parseDpkgStatus(status)) {
        // dpkg records no install time; the file list is written when the package is unpacked.
        const list = (await ctx.stat(`/var/lib/dpkg/info/${p.name}:${p.architecture}.list`)) ?? (await ctx.stat(`/var/lib/dpkg/info/${p.name}.list`));
        rows.push({ ...p, installTime: list ? list.mtime.toISOString() : '' });
      }
      yield { name: 'InstalledPrograms_dpkg.csv', source: '/var/lib/dpkg/status', content: toCsv(COLUMNS, rows) };
    }
    const rpm = await ctx.run('rpm', ['-qa', '--queryformat', RPM_QUERYFORMAT]);
    if (rpm.code === 0 && rpm.stdout.trim()) {
      any = true;
      yield { name: 'InstalledPrograms_rpm.csv', source: `rpm -qa --queryformat '${RPM_QUERYFORMAT}'`, content: toCsv(COLUMNS, parseRpmQuery(rpm.stdout)) };
    }
    if (!any) yield notPresent('InstalledPrograms.txt', 'dpkg and rpm package databases');
  },
};
