import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { parseCmdline, parseProcStat } from '../../actions/collect-package/parsers/proc.js';
import { QuarantineNotFound, QuarantineRefused, QuarantineVault } from '../../quarantine/vault.js';
import { CommandError, usageError } from '../errors.js';
import { fileType, printable, table } from '../format.js';
import { statPath } from '../paths.js';
import type { CommandContext, LiveCommand, Remediation } from '../types.js';
import { openDirectory, readRegular, realDirectory, replaceFile, sha256Of } from '../write.js';

/*
 * `remediate` changes the device: it kills a process, moves a file into the agent's quarantine
 * vault, or disables one crontab entry. Each is recorded on the device with an id (in the agent's
 * data directory, so the record outlives the session and the agent's restarts); `undo <id>`, in
 * this session or a later one, reverses a quarantine (the file goes back where it was) or a
 * disabled entry (its marker is removed); a killed process cannot be brought back.
 */

/** An id no other session's is likely to be: a cron marker names exactly one remediation. */
const newId = (): string => `r${randomBytes(4).toString('hex')}`;

/** The marker that disables a crontab line: removing exactly it enables the line again. */
const cronMarker = (id: string): string => `#cordon-disabled ${id} `;

/** A process as /proc tells it. */
interface ProcessInfo {
  pid: number;
  ppid: number;
  startTicks: number;
  name: string;
  exe: string | null;
  commandLine: string;
  kernelThread: boolean;
}

/** The kernel's flag for its own threads (PF_KTHREAD), in field 9 of /proc/<pid>/stat. */
const PF_KTHREAD = 0x00200000;

async function processInfo(ctx: CommandContext, pid: number): Promise<ProcessInfo | null> {
  const text = (await ctx.files.readText(`/proc/${pid}/stat`).catch(() => null)) ?? '';
  const stat = parseProcStat(text);
  if (!stat) return null;
  // Fields after the command name (which may hold spaces and parentheses): flags is field 9.
  const flags = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[6]);
  const argv = parseCmdline((await ctx.files.readFile(`/proc/${pid}/cmdline`).catch(() => null)) ?? Buffer.alloc(0));
  const exe = await ctx.files.readlink(`/proc/${pid}/exe`).catch(() => null);
  return { pid, ppid: stat.ppid, startTicks: stat.starttime, name: stat.comm, exe, commandLine: argv.length ? argv.join(' ') : `[${stat.comm}]`, kernelThread: (flags & PF_KTHREAD) !== 0 };
}

/** The agent's parent, its parent, and so on up to (not including) pid 1. */
async function agentAncestors(ctx: CommandContext): Promise<Set<number>> {
  const out = new Set<number>();
  for (let pid = process.ppid; pid > 1 && !out.has(pid); ) {
    out.add(pid);
    const p = await processInfo(ctx, pid);
    if (!p) break;
    pid = p.ppid;
  }
  return out;
}

async function killProcess(ctx: CommandContext, cmd: LiveCommand, arg: string | undefined, id: string): Promise<Remediation> {
  if (arg === undefined || !/^[1-9]\d{0,9}$/.test(arg)) throw usageError(cmd, arg === undefined ? undefined : `${printable(arg)} is not a process id`);
  const pid = Number(arg);
  if (pid === 1) throw new CommandError('pid 1 (init) is never killed');
  if (pid === process.pid) throw new CommandError(`pid ${pid} is the Cordon agent itself; it is not killed`);
  const p = await processInfo(ctx, pid);
  if (!p) throw new CommandError(`no process ${pid}`);
  if ((await agentAncestors(ctx)).has(pid)) throw new CommandError(`pid ${pid} (${printable(p.commandLine)}) started the Cordon agent (it is one of its ancestors); it is not killed`);
  const status = (await ctx.files.readText(`/proc/${pid}/status`).catch(() => null)) ?? '';
  const tgid = /^Tgid:\s*(\d+)/m.exec(status)?.[1];
  if (tgid !== undefined && Number(tgid) !== pid) throw new CommandError(`${pid} is a thread of process ${tgid}; give the process id`);
  if (p.kernelThread) throw new CommandError(`pid ${pid} (${printable(p.name)}) is a kernel thread; it cannot be killed`);
  ctx.write(`pid ${pid}: exe ${p.exe === null ? '(unknown)' : printable(p.exe)}, command line: ${printable(p.commandLine)}\n`);
  // The kill is checked against the start time read above: a pid reused meanwhile names another process, which is left alone.
  if ((await ctx.platform.killProcess({ pid, startTicks: p.startTicks })) === 'gone') throw new CommandError(`pid ${pid} ended before it could be killed`);
  ctx.write(`killed (SIGKILL); remediation ${id}; a killed process cannot be brought back\n`);
  return {
    id,
    kind: 'process',
    target: `pid ${pid} (${p.commandLine.slice(0, 200)})`,
    doneAt: new Date().toISOString(),
    undo: { impossible: 'a killed process cannot be brought back' },
    undoneAt: null,
    detail: { pid, exe: p.exe, commandLine: p.commandLine },
  };
}

async function openVault(ctx: CommandContext): Promise<QuarantineVault> {
  const dataDir = ctx.session.settings.dataDir;
  if (!dataDir) throw new CommandError('this session has no quarantine vault (the agent gave it no data directory); nothing was done');
  try {
    return await QuarantineVault.open(dataDir);
  } catch (e) {
    throw new CommandError(`the quarantine vault cannot be opened: ${(e as Error).message}`);
  }
}

/** A vault error as one line (what it refused and why, or what is missing). */
function vaultError(e: unknown): unknown {
  return e instanceof QuarantineRefused || e instanceof QuarantineNotFound ? new CommandError(e.message) : e;
}

async function quarantineFile(ctx: CommandContext, cmd: LiveCommand, arg: string | undefined, id: string): Promise<Remediation> {
  if (arg === undefined) throw usageError(cmd);
  const typed = ctx.resolve(arg);
  const st = await statPath(ctx.files, typed, { follow: false });
  if (st.isSymbolicLink()) {
    const to = await ctx.files.readlink(typed);
    throw new CommandError(`${printable(typed)}: a symbolic link${to === null ? '' : ` to ${printable(to)}`}; give the file's own path`);
  }
  if (!st.isFile()) throw new CommandError(`${printable(typed)}: a ${fileType(st)}; only regular files are quarantined`);
  // The vault walks the path without following any link: give it the one root's links resolved.
  const path = posix.join(await realDirectory(ctx, posix.dirname(typed)), posix.basename(typed));
  const dataDir = ctx.session.settings.dataDir;
  if (dataDir && (path === dataDir || path.startsWith(`${dataDir}/`))) throw new CommandError(`${printable(path)}: a file of the Cordon agent's own; it is not quarantined`);
  if (path === process.execPath) throw new CommandError(`${printable(path)}: the program the Cordon agent runs; it is not quarantined`);
  const dir = await openDirectory(posix.dirname(path));
  let sha256: string;
  try {
    sha256 = await sha256Of(dir, posix.basename(path), printable(path), ctx.signal);
  } finally {
    await dir.close();
  }
  const vault = await openVault(ctx);
  try {
    // The vault checks the SHA-256 again as it copies: a file changed since it was hashed here is left where it is.
    const meta = await vault.quarantine({ path }, { sha256 }, { actionId: `live-response remediation ${id}` }).catch((e: unknown) => {
      throw vaultError(e);
    });
    ctx.write(`${printable(path)}: moved into the quarantine vault (item ${meta.quarantineId}, ${meta.size} bytes, SHA-256 ${meta.sha256}); remediation ${id}: undo ${id} puts it back\n`);
    return {
      id,
      kind: 'file',
      target: path,
      doneAt: new Date().toISOString(),
      undo: { quarantineId: meta.quarantineId },
      undoneAt: null,
      detail: { path, quarantineId: meta.quarantineId, vault: vault.path, size: meta.size, sha256: meta.sha256, uid: meta.uid, gid: meta.gid, mode: meta.mode.toString(8).padStart(4, '0') },
    };
  } finally {
    await vault.close();
  }
}

/** Why a crontab line is not an entry to disable, or null when it is one. */
function notAnEntry(line: string): string | null {
  const t = line.trim();
  if (!t) return 'blank';
  if (t.startsWith('#cordon-disabled ')) return `disabled already (${printable(t.split(' ', 2).join(' '))})`;
  if (t.startsWith('#')) return 'a comment';
  // NAME=value, NAME = value, "NAME"=value: cron sets a variable.
  if (/^("[^"]*"|'[^']*'|[^\s=]+)\s*=/.test(t)) return 'an environment assignment';
  // An entry starts with its minute field (digits, *, lists, ranges, steps) or @reboot, @daily…
  if (!/^[0-9*@]/.test(t)) return 'not a cron entry (it starts with neither a minute field nor @)';
  return null;
}

async function disableCron(ctx: CommandContext, cmd: LiveCommand, fileArg: string | undefined, lineArg: string | undefined, id: string): Promise<Remediation> {
  if (fileArg === undefined || lineArg === undefined) throw usageError(cmd);
  if (!/^[1-9]\d{0,8}$/.test(lineArg)) throw usageError(cmd, `${printable(lineArg)} is not a line number`);
  const file = ctx.resolve(fileArg);
  const roots = ctx.session.settings.cronRoots;
  if (!roots.some((r) => file === r || posix.dirname(file) === r)) throw new CommandError(`${printable(file)}: not a crontab; remediate cron changes only ${roots.map(printable).join(', ')} (a file, or the files directly in a directory)`);
  const n = Number(lineArg);
  const label = printable(file);
  const dir = await openDirectory(posix.dirname(file));
  try {
    const name = posix.basename(file);
    const { bytes, st } = await readRegular(dir, name, label);
    // latin1 maps each byte to one character and back: the file is rewritten byte for byte.
    const lines = bytes.toString('latin1').split('\n');
    const count = lines.at(-1) === '' ? lines.length - 1 : lines.length;
    if (n > count) throw new CommandError(`${label} has ${count} line${count === 1 ? '' : 's'}; there is no line ${n}`);
    const line = lines[n - 1]!;
    const entry = Buffer.from(line, 'latin1').toString('utf8');
    const why = notAnEntry(entry);
    if (why) throw new CommandError(`${label} line ${n} is ${why}; only a cron entry is disabled`);
    const marker = cronMarker(id);
    lines[n - 1] = marker + line;
    await replaceFile(dir, name, Buffer.from(lines.join('\n'), 'latin1'), st, label);
    ctx.write(`${label} line ${n} disabled: ${printable(entry.trim())}\nremediation ${id}: undo ${id} enables it again\n`);
    return {
      id,
      kind: 'cron',
      target: `${file} line ${n}`,
      doneAt: new Date().toISOString(),
      undo: { cronFile: file, marker },
      undoneAt: null,
      detail: { file, line: n, entry: entry.trim(), marker: marker.trimEnd() },
    };
  } finally {
    await dir.close();
  }
}

/** Removes exactly the marker a remediation put before one crontab line, if that line is still there. */
async function enableCron(file: string, marker: string): Promise<number> {
  const label = printable(file);
  const dir = await openDirectory(posix.dirname(file));
  try {
    const name = posix.basename(file);
    const { bytes, st } = await readRegular(dir, name, label);
    const lines = bytes.toString('latin1').split('\n');
    const at = lines.flatMap((l, i) => (l.startsWith(marker) ? [i] : []));
    if (at.length === 0) throw new CommandError(`${label} no longer holds the line ${marker.trim()} disabled (it was edited since); nothing was changed`);
    if (at.length > 1) throw new CommandError(`${label} holds ${at.length} lines marked ${marker.trim()}; nothing was changed`);
    lines[at[0]!] = lines[at[0]!]!.slice(marker.length);
    await replaceFile(dir, name, Buffer.from(lines.join('\n'), 'latin1'), st, label);
    return at[0]! + 1;
  } finally {
    await dir.close();
  }
}

function list(ctx: CommandContext) {
  const all = ctx.session.remediations.list();
  const here = new Set(ctx.session.remediatedHere);
  const undoText = (r: Remediation) => (r.undoneAt ? `undone ${r.undoneAt.replace(/\.\d{3}Z$/, 'Z')}` : 'impossible' in r.undo ? 'cannot be undone' : `undo ${r.id}`);
  const rows = all.map((r) => [r.id, r.doneAt.replace(/\.\d{3}Z$/, 'Z'), r.kind, printable(r.target), undoText(r)]);
  ctx.write(table(['ID', 'DONE', 'KIND', 'TARGET', 'UNDO'], rows, 'Nothing was remediated on this device.'));
  return { data: all.map((r) => ({ ...r, thisSession: here.has(r.id) })) };
}

/**
 * `remediate process <pid> | file <path> | cron <file> <line> | list`: kills one process
 * (SIGKILL; never pid 1, the agent or its ancestors), quarantines one file (into the agent's vault:
 * bytes, owner, mode and times kept), disables one crontab entry (prefixed with
 * `#cordon-disabled <id> `, the file replaced atomically, owner and mode kept), or lists what
 * was remediated on this device, in this session and earlier ones.
 */
export const remediate: LiveCommand = {
  name: 'remediate',
  summary: 'Kill a process, quarantine a file or disable a cron entry (each recorded; undo reverses it where it can); list shows them',
  usage: 'remediate process <pid> | file <path> | cron <file> <line-number> | list',
  level: 'advanced',
  async run(args, ctx) {
    const [what, ...rest] = args;
    const id = newId();
    let done: Remediation;
    switch (what) {
      case 'list':
        if (rest.length) throw usageError(this, 'too many arguments');
        return list(ctx);
      case 'process':
        if (rest.length > 1) throw usageError(this, 'too many arguments');
        done = await killProcess(ctx, this, rest[0], id);
        break;
      case 'file':
        if (rest.length > 1) throw usageError(this, 'too many arguments');
        done = await quarantineFile(ctx, this, rest[0], id);
        break;
      case 'cron':
        if (rest.length > 2) throw usageError(this, 'too many arguments');
        done = await disableCron(ctx, this, rest[0], rest[1], id);
        break;
      default:
        throw usageError(this, what === undefined ? undefined : `${printable(what)}: not process, file, cron or list`);
    }
    ctx.session.remediatedHere.push(id);
    try {
      ctx.session.remediations.add(done);
    } catch (e) {
      // Done, but not recorded: say how to reverse it by hand, since a later session will not know it.
      const by = 'quarantineId' in done.undo ? `RestoreQuarantinedFile of vault item ${done.undo.quarantineId}` : 'cronFile' in done.undo ? `removing ${done.undo.marker.trim()} from ${done.undo.cronFile}` : null;
      return { data: done, error: `${id} was done but could not be recorded on the device (${(e as Error).message})${by ? `; it is undone by ${by}` : ''}` };
    }
    return { data: done };
  },
};

/**
 * `undo [id]`: reverses one remediation recorded on this device, done in this session or an earlier
 * one (with no id: the last one this session did): a quarantined file goes back to its path
 * (refused when something is there now), a disabled cron entry is enabled again (exactly its
 * marker removed). A killed process cannot be brought back.
 */
export const undo: LiveCommand = {
  name: 'undo',
  summary: 'Undo a remediation done on this device (the last one of this session when no id is given): put a file back, enable a cron entry',
  usage: 'undo [id]',
  level: 'advanced',
  async run(args, ctx) {
    if (args.length > 1) throw usageError(this, 'too many arguments');
    const all = ctx.session.remediations.list();
    let r: Remediation | undefined;
    if (args[0] === undefined) {
      const here = ctx.session.remediatedHere;
      const id = here.findLast((x) => all.some((y) => y.id === x && !y.undoneAt));
      r = all.find((x) => x.id === id);
      if (!r) throw new CommandError(here.length ? 'everything remediated in this session was undone already' : 'nothing was remediated in this session (undo <id> undoes an earlier session\'s; remediate list shows them)');
    } else {
      r = all.find((x) => x.id === args[0]);
      if (!r) throw new CommandError(`no remediation ${printable(args[0])} on this device (remediate list shows them)`);
      if (r.undoneAt) throw new CommandError(`${r.id} was undone already, at ${r.undoneAt}`);
    }
    const u = r.undo;
    if ('impossible' in u) throw new CommandError(`${r.id} (${printable(r.target)}) cannot be undone: ${u.impossible}${args[0] === undefined ? '; undo <id> undoes an earlier one (remediate list)' : ''}`);
    if ('quarantineId' in u) {
      const vault = await openVault(ctx);
      try {
        const meta = await vault.restore(u.quarantineId).catch((e: unknown) => {
          throw vaultError(e);
        });
        ctx.write(`${printable(meta.path)}: put back from the quarantine vault (owner ${meta.uid}:${meta.gid}, mode ${meta.mode.toString(8).padStart(4, '0')}); ${r.id} undone\n`);
      } finally {
        await vault.close();
      }
    } else {
      const line = await enableCron(u.cronFile, u.marker);
      ctx.write(`${printable(u.cronFile)} line ${line} enabled again; ${r.id} undone\n`);
    }
    const at = new Date().toISOString();
    try {
      return { data: ctx.session.remediations.markUndone(r.id, at) ?? { ...r, undoneAt: at } };
    } catch (e) {
      return { data: { ...r, undoneAt: at }, error: `${r.id} was undone, but that could not be recorded on the device (${(e as Error).message}); remediate list still shows it as not undone` };
    }
  },
};
