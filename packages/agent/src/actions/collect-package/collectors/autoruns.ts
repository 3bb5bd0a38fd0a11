import { concatFiles, notPresent, section } from '../format.js';
import type { CollectContext, CollectedFile, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, homes, packageOwnedPaths } from './common.js';

/** Where systemd looks for unit files, system and user. */
export const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system', '/etc/systemd/user', '/usr/lib/systemd/user'];

/** Enabled units: the symlinks in *.wants / *.requires directories (works without a running systemd). */
export async function enabledUnits(ctx: CollectContext): Promise<{ unit: string; by: string; target: string }[]> {
  const out: { unit: string; by: string; target: string }[] = [];
  for (const base of ['/etc/systemd/system', '/etc/systemd/user', '/usr/lib/systemd/system', '/lib/systemd/system']) {
    for (const d of ((await ctx.readDir(base)) ?? []).sort()) {
      if (!/\.(wants|requires|upholds)$/.test(d)) continue;
      for (const unit of ((await ctx.readDir(`${base}/${d}`)) ?? []).sort()) {
        out.push({ unit, by: `${base}/${d}`, target: (await ctx.readlink(`${base}/${d}/${unit}`)) ?? '' });
      }
    }
  }
  return out;
}

async function fileSource(ctx: CollectContext, name: string, label: string, paths: string[]): Promise<CollectedFile> {
  const r = await concatFiles(ctx, paths);
  if (!r) return notPresent(name, paths.join(', '));
  return { name, source: r.found.join(', ').slice(0, 2000), content: `# ${label}\n\n${r.text}` };
}

/** Autoruns: everything that starts programs without a person asking, one file per source. */
export const autoruns: Collector = {
  folder: 'Autoruns',
  name: 'autoruns',
  source: 'systemd unit dirs, cron tables, rc.local, profile/rc files, ld.so.preload, modules-load.d, udev rules, XDG autostart, authorized_keys',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    const enabled = await enabledUnits(ctx);
    yield enabled.length
      ? { name: 'SystemdEnabledUnits.txt', source: '/etc/systemd/system/*.wants, *.requires', content: `${['unit\tenabled by\tlink target', ...enabled.map((e) => `${e.unit}\t${e.by}\t${e.target}`)].join('\n')}\n` }
      : notPresent('SystemdEnabledUnits.txt', '/etc/systemd/system/*.wants');

    // Unit files no package installed are where persistence hides.
    const owned = await packageOwnedPaths(ctx);
    const foreign: string[] = [];
    for (const dir of UNIT_DIRS) {
      for (const n of ((await ctx.readDir(dir)) ?? []).sort()) {
        const p = `${dir}/${n}`;
        const st = await ctx.lstat(p);
        if (!st || st.isDirectory()) continue;
        if (st.isSymbolicLink()) continue; // aliases and masks point at files listed elsewhere
        if (!owned?.paths.has(p)) foreign.push(p);
      }
    }
    for (const h of await homes(ctx)) {
      const d = `${h.home}/.config/systemd/user`;
      // A link here (-> /etc/systemd/system, or /etc) is shown as the link it is, never read through.
      if ((await ctx.lstat(d))?.isSymbolicLink()) foreign.push(d);
      else for (const n of ((await ctx.readDir(d)) ?? []).sort()) foreign.push(`${d}/${n}`);
    }
    const foreignText = await concatFiles(ctx, foreign);
    yield {
      name: 'SystemdUnitFilesNotFromPackages.txt',
      source: `${UNIT_DIRS.join(', ')}, ~/.config/systemd/user; owner check: ${owned?.manager ?? 'no package manager'}`,
      content: foreignText ? `# Unit files that no package (${owned?.manager ?? 'none found'}) installed\n\n${foreignText.text}` : `No unit files outside the package manager (${owned?.manager ?? 'none found'}).\n`,
    };

    const spool = ['/var/spool/cron/crontabs', '/var/spool/cron'];
    const cronDirs = ['/etc/cron.hourly', '/etc/cron.daily', '/etc/cron.weekly', '/etc/cron.monthly'];
    yield await fileSource(ctx, 'CronTables.txt', 'cron tables', ['/etc/crontab', '/etc/cron.d', '/etc/anacrontab', ...spool, ...cronDirs]);
    yield await fileSource(ctx, 'RcLocal.txt', 'rc.local', ['/etc/rc.local', '/etc/rc.d/rc.local']);

    const hs = await homes(ctx);
    const rcNames = ['.profile', '.bash_profile', '.bash_login', '.bashrc', '.bash_logout', '.zshrc', '.zprofile', '.zshenv', '.zlogin', '.config/fish/config.fish'];
    yield await fileSource(ctx, 'ProfileAndShellRc.txt', 'profile and shell rc files', [
      '/etc/profile', '/etc/profile.d', '/etc/bash.bashrc', '/etc/bashrc', '/etc/environment', '/etc/zsh', '/etc/zshrc', '/etc/zprofile',
      ...hs.flatMap((h) => rcNames.map((n) => `${h.home}/${n}`)),
    ]);
    yield await fileSource(ctx, 'LdSoPreload.txt', '/etc/ld.so.preload (libraries loaded into every program)', ['/etc/ld.so.preload']);
    yield await fileSource(ctx, 'ModulesLoad.txt', 'kernel modules loaded at boot', ['/etc/modules', '/etc/modules-load.d', '/run/modules-load.d', '/usr/lib/modules-load.d', '/etc/modprobe.d']);
    yield await fileSource(ctx, 'UdevRules.txt', 'udev rules (RUN+= starts programs on device events)', ['/etc/udev/rules.d', '/run/udev/rules.d']);
    yield await fileSource(ctx, 'XdgAutostart.txt', 'XDG autostart entries', ['/etc/xdg/autostart', ...hs.map((h) => `${h.home}/.config/autostart`)]);
    const keys = await concatFiles(ctx, hs.flatMap((h) => [`${h.home}/.ssh/authorized_keys`, `${h.home}/.ssh/authorized_keys2`]));
    const sshd = await concatFiles(ctx, ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d']);
    yield keys || sshd
      ? {
          name: 'SshAuthorizedKeys.txt',
          source: '~/.ssh/authorized_keys, authorized_keys2, /etc/ssh/sshd_config',
          content: `${keys ? keys.text : section('authorized_keys', 'No authorized_keys files in any home directory.')}\n${sshd ? section('sshd configuration (AuthorizedKeysFile, AuthorizedKeysCommand)', sshd.text.split('\n').filter((l) => /^(=|\/|AuthorizedKeys|Match|PermitRootLogin|PasswordAuthentication)/i.test(l.trim())).join('\n')) : ''}`,
        }
      : notPresent('SshAuthorizedKeys.txt', '~/.ssh/authorized_keys');
  },
};
