import { commandSections, notPresent, section } from '../format.js';
import type { Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './common.js';

/** SMB sessions: Samba sessions, shares and locks; NFS exports and clients; "none" when neither serves. */
export const smbSessions: Collector = {
  folder: 'SMB sessions',
  name: 'smb-sessions',
  source: 'smbstatus; /etc/exports, /var/lib/nfs/etab, exportfs -v, /proc/fs/nfsd/clients',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    let any = false;
    const smb = await ctx.run('smbstatus', ['--version'], { timeoutMs: 5_000 });
    if (smb.code === 0) {
      any = true;
      const r = await commandSections(ctx, [['smbstatus', ['--processes']], ['smbstatus', ['--shares']], ['smbstatus', ['--locks']]]);
      yield { name: 'SambaSessions.txt', source: 'smbstatus --processes/--shares/--locks', content: r.text };
    }
    const exports = await ctx.readText('/etc/exports');
    const etab = await ctx.readText('/var/lib/nfs/etab');
    const clientsDir = await ctx.readDir('/proc/fs/nfsd/clients');
    if (exports !== null || etab !== null || clientsDir) {
      any = true;
      const parts = [section('/etc/exports', exports ?? 'not present on this device'), section('/var/lib/nfs/etab (active exports)', etab ?? 'not present on this device')];
      const ex = await ctx.run('exportfs', ['-v']);
      if (ex.code !== 127) parts.push(section('$ exportfs -v', ex.stdout || ex.stderr));
      yield { name: 'NfsExports.txt', source: '/etc/exports, /var/lib/nfs/etab, exportfs -v', content: parts.join('\n') };
      const clients: string[] = [];
      for (const c of (clientsDir ?? []).sort()) clients.push(section(`/proc/fs/nfsd/clients/${c}/info`, (await ctx.readText(`/proc/fs/nfsd/clients/${c}/info`).catch(() => null)) ?? ''));
      yield { name: 'NfsClients.txt', source: '/proc/fs/nfsd/clients/*/info', content: clients.length ? clients.join('\n') : 'No NFS clients connected.\n' };
    }
    if (!any) yield notPresent('NoSmbOrNfsSessions.txt', 'Samba (smbstatus) and NFS server (/etc/exports, /proc/fs/nfsd)', 'neither serves files here, so there are no sessions');
  },
};
