import { enabledUnits, UNIT_DIRS } from '../../actions/collect-package/collectors/autoruns.js';
import { homes, packageOwnedPaths } from '../../actions/collect-package/collectors/common.js';
import { scheduledTasks } from '../../actions/collect-package/collectors/scheduled-tasks.js';
import { parseUnitFile, unitValue, type UnitFile } from '../../actions/collect-package/parsers/systemd.js';
import { parseArgs } from '../args.js';
import { isoTime, printable, table } from '../format.js';
import { accountNames } from '../paths.js';
import type { CommandContext, LiveCommand } from '../types.js';

/** Something that starts a program without a person asking. */
export interface PersistenceEntry {
  kind: 'systemd' | 'cron' | 'anacron' | 'systemd-timer' | 'at' | 'rc.local' | 'ld.so.preload' | 'authorized_keys';
  user: string;
  /** When it runs: a schedule, the target that wants a unit, boot, login. */
  when: string;
  /** What it runs: commands, a library, a key's options (command="…"). */
  runs: string;
  /** The file that holds it. */
  file: string;
}

/** A file or directory persistence lives in, or a program an entry runs (what a Quick scan reads as persistence). */
export interface PersistenceFile {
  path: string;
  type: 'file' | 'directory';
  owner: string;
  modified: string;
  /** Installed by a package (dpkg or rpm); null when no package manager is present. */
  fromPackage: boolean | null;
  note?: string;
}

/** The longest line of text an entry shows (authorized_keys lines carry a long key). */
const MAX_RUNS = 300;

const SERVICE_EXEC = ['ExecStartPre', 'ExecStart', 'ExecStartPost'];

/**
 * `persistence`: what starts programs on its own. Entries come from collect-package's readers
 * (enabled systemd units, cron, anacron, timers, at), rc.local, ld.so.preload and authorized_keys
 * lines with options; the files come from the platform's Quick scan scope (everything it reads
 * as persistence: unit and cron directories, rc and profile scripts, and the programs they name),
 * each marked whether a package installed it.
 */
export const persistence: LiveCommand = {
  name: 'persistence',
  summary: 'List what starts programs on its own: services, cron, timers, rc and profile scripts, ld.so.preload, authorized_keys',
  usage: 'persistence',
  level: 'basic',
  async run(args, ctx) {
    parseArgs(this, args, { maxOperands: 0 });
    const c = ctx.collect;
    const entries: PersistenceEntry[] = [];
    ctx.trace('reading enabled systemd units (*.wants, *.requires)');
    for (const e of await enabledUnits(c)) {
      if (e.unit.endsWith('.timer')) continue; // listed with its schedule below
      const file = await unitFile(ctx, e.unit);
      const u: UnitFile = file ? parseUnitFile((await c.readText(file).catch(() => null)) ?? '') : {};
      const runs = SERVICE_EXEC.flatMap((k) => u.Service?.[k] ?? []).join('; ');
      entries.push({ kind: 'systemd', user: unitValue(u, 'Service', 'User') || (e.by.includes('/systemd/user/') ? 'each user' : 'root'), when: `wanted by ${e.by.slice(e.by.lastIndexOf('/') + 1).replace(/\.(wants|requires|upholds)$/, '')}`, runs, file: file ?? `${e.by}/${e.unit}` });
    }
    ctx.signal.throwIfAborted();
    ctx.trace('reading cron tables, anacrontab, systemd timers and at jobs');
    for (const t of await scheduledTasks(c)) entries.push({ kind: t.type, user: t.user, when: t.enabled === 'no' ? `${t.schedule} (disabled)` : t.schedule, runs: t.command, file: t.file });
    for (const file of ['/etc/rc.local', '/etc/rc.d/rc.local']) {
      const lines = meaningful(await c.readText(file).catch(() => null)).filter((l) => l !== 'exit 0');
      if (lines.length) entries.push({ kind: 'rc.local', user: 'root', when: 'boot', runs: lines.join('; '), file });
    }
    // Every program loads these libraries first.
    for (const lib of meaningful(await c.readText('/etc/ld.so.preload').catch(() => null)).flatMap((l) => l.split(/[\s:]+/))) {
      if (lib) entries.push({ kind: 'ld.so.preload', user: 'every program', when: 'every program start', runs: lib, file: '/etc/ld.so.preload' });
    }

    ctx.signal.throwIfAborted();
    ctx.trace('asking the platform for the Quick scan scope (persistence roots)');
    const scope = await ctx.platform.scanScope('Quick');
    const roots = scope.roots.filter((r) => r.why === 'persistence');
    const homeUsers = await homes(c);
    for (const r of roots.filter((x) => /\/\.ssh\/authorized_keys2?$/.test(x.path))) {
      // The key logs in as the account whose home holds it.
      const user = homeUsers.find((h) => r.path.startsWith(`${h.home}/.ssh/`))?.user ?? '';
      // A line that does not start with the key type starts with options: command="…", from=…, environment=….
      for (const l of meaningful(await c.readText(r.path).catch(() => null)).filter((x) => !/^(ssh-|ecdsa-|sk-)/.test(x))) {
        entries.push({ kind: 'authorized_keys', user, when: 'ssh login with this key', runs: l.length > MAX_RUNS ? `${l.slice(0, MAX_RUNS)}…` : l, file: r.path });
      }
    }

    ctx.signal.throwIfAborted();
    ctx.trace('reading the package manager file lists (dpkg info/*.list or rpm -qal)');
    const owned = await packageOwnedPaths(c);
    const names = await accountNames(c);
    const files: PersistenceFile[] = [];
    for (const r of roots) {
      const st = await c.lstat(r.path).catch(() => null);
      if (!st) continue;
      files.push({ path: r.path, type: st.isDirectory() ? 'directory' : 'file', owner: names.user(st.uid), modified: isoTime(st.mtime), fromPackage: owned ? owned.paths.has(r.path) : null, ...(r.note ? { note: r.note } : {}) });
    }

    ctx.write('What starts programs:\n');
    ctx.write(table(['KIND', 'USER', 'WHEN', 'RUNS', 'FILE'], entries.map((e) => [e.kind, printable(e.user), printable(e.when), printable(e.runs), printable(e.file)]), 'Nothing found.'));
    // What no package installed comes first: that is where persistence hides.
    files.sort((a, b) => Number(a.fromPackage ?? false) - Number(b.fromPackage ?? false));
    ctx.write(`\nFiles and directories that start programs, and the programs they name (package: ${owned ? `from ${owned.manager}` : 'no package manager here'}):\n`);
    ctx.write(table(['TYPE', 'OWNER', 'MODIFIED', 'PACKAGE', 'PATH'], files.map((f) => [f.type, printable(f.owner), f.modified, f.fromPackage === null ? '-' : f.fromPackage ? 'yes' : 'NO', printable(f.path) + (f.note ? ` (${printable(f.note)})` : '')]), 'None.'));
    return { data: { entries, files } };
  },
};

/** Where systemd finds a unit: the first unit directory holding it (an instance falls back to its template). */
async function unitFile(ctx: CommandContext, unit: string): Promise<string | null> {
  const template = unit.replace(/@[^.]+\./, '@.');
  for (const name of template === unit ? [unit] : [unit, template]) {
    for (const dir of UNIT_DIRS) {
      const st = await ctx.collect.stat(`${dir}/${name}`).catch(() => null);
      if (st?.isFile()) return `${dir}/${name}`;
    }
  }
  return null;
}

/** A file's lines without blanks and comments (null: missing). */
function meaningful(text: string | null): string[] {
  return (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}
