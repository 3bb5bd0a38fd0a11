import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LiveShell } from '../session.js';
import type { Remediation } from '../types.js';

const isRoot = process.getuid?.() === 0;
const tmp = mkdtempSync(join(tmpdir(), 'cordon-live-remediate-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const dataDir = join(tmp, 'agent-data');
mkdirSync(dataDir, { mode: 0o700 });
const etc = join(tmp, 'root/etc');
const spool = join(tmp, 'root/var/spool/cron/crontabs');
const cronRoots = [join(etc, 'crontab'), join(etc, 'cron.d'), spool];
const shell = (level: 'basic' | 'advanced' = 'advanced') => new LiveShell({ level, dataDir, cronRoots });
const dataOf = (r: { data?: unknown }) => r.data as Remediation;

async function sleeper(arg: string): Promise<ChildProcess> {
  const child = spawn('sleep', [arg], { stdio: 'ignore' });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child;
}
const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** A kernel thread's pid (PF_KTHREAD in /proc/<pid>/stat's flags), if this machine shows one. */
const kernelThread = readdirSync('/proc')
  .filter((n) => /^\d+$/.test(n))
  .find((n) => {
    try {
      const s = readFileSync(`/proc/${n}/stat`, 'utf8');
      return (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[6]) & 0x00200000) !== 0;
    } catch {
      return false;
    }
  });

describe('remediate process', () => {
  it('kills exactly the named process (SIGKILL), showing its exe and command line first; undo says it cannot be undone', async () => {
    const target = await sleeper('4242.1');
    const bystander = await sleeper('4242.2');
    const sh = shell();
    const r = await sh.run(`remediate process ${target.pid}`);
    expect(r.exitStatus).toBe(0);
    const id = dataOf(r).id;
    expect(id).toMatch(/^r[0-9a-f]{8}$/);
    expect(r.output).toMatch(new RegExp(`^pid ${target.pid}: exe \\S*/sleep, command line: sleep 4242\\.1\\nkilled \\(SIGKILL\\); remediation ${id}; a killed process cannot be brought back\\n$`));
    expect(dataOf(r)).toMatchObject({ kind: 'process', target: `pid ${target.pid} (sleep 4242.1)`, detail: { pid: target.pid, commandLine: 'sleep 4242.1' }, undoneAt: null });
    const [, signal] = await new Promise<[number | null, string | null]>((resolve) => (target.exitCode !== null || target.signalCode !== null ? resolve([target.exitCode, target.signalCode]) : target.once('exit', (c, s) => resolve([c, s]))));
    expect(signal).toBe('SIGKILL');
    expect(running(bystander)).toBe(true);
    expect(await sh.run(`undo ${id}`)).toEqual({ exitStatus: 1, output: `undo: ${id} (pid ${target.pid} (sleep 4242.1)) cannot be undone: a killed process cannot be brought back\n` });
    expect(await sh.run('undo')).toEqual({ exitStatus: 1, output: `undo: ${id} (pid ${target.pid} (sleep 4242.1)) cannot be undone: a killed process cannot be brought back; undo <id> undoes an earlier one (remediate list)\n` });
    expect(running(bystander)).toBe(true);
  });

  it('refuses pid 1, the agent, its ancestors, a kernel thread, a pid that is no process; bad pids are usage errors', async () => {
    const sh = shell();
    expect(await sh.run('remediate process 1')).toEqual({ exitStatus: 1, output: 'remediate: pid 1 (init) is never killed\n' });
    expect(await sh.run(`remediate process ${process.pid}`)).toEqual({ exitStatus: 1, output: `remediate: pid ${process.pid} is the Cordon agent itself; it is not killed\n` });
    if (process.ppid > 1) expect(await sh.run(`remediate process ${process.ppid}`)).toMatchObject({ exitStatus: 1, output: expect.stringMatching(new RegExp(`^remediate: pid ${process.ppid} \\(.*\\) started the Cordon agent \\(it is one of its ancestors\\); it is not killed\\n$`)) });
    if (kernelThread) expect(await sh.run(`remediate process ${kernelThread}`)).toMatchObject({ exitStatus: 1, output: expect.stringMatching(new RegExp(`^remediate: pid ${kernelThread} \\(.+\\) is a kernel thread; it cannot be killed\\n$`)) });
    expect(await sh.run('remediate process 2147483646')).toEqual({ exitStatus: 1, output: 'remediate: no process 2147483646\n' });
    expect(await sh.run('remediate process')).toEqual({ exitStatus: 2, output: 'remediate: usage: remediate process <pid> | file <path> | cron <file> <line-number> | list\n' });
    expect(await sh.run("remediate process '1;kill -9 -1'")).toEqual({ exitStatus: 2, output: 'remediate: 1;kill -9 -1 is not a process id; usage: remediate process <pid> | file <path> | cron <file> <line-number> | list\n' });
    expect((await sh.run('remediate process 0')).exitStatus).toBe(2);
    expect((await sh.run('remediate process 12 13')).exitStatus).toBe(2);
    expect((await sh.run('remediate kill 12')).output).toBe('remediate: kill: not process, file, cron or list; usage: remediate process <pid> | file <path> | cron <file> <line-number> | list\n');
    expect(sh.state.remediatedHere).toEqual([]);
  });
});

describe('remediate file', () => {
  const files = join(tmp, 'files dir;|&$()');
  mkdirSync(files);

  it.skipIf(!isRoot)('moves the file into the agent’s quarantine vault; undo puts it back with its bytes, owner and mode', async () => {
    const path = join(files, 'evil payload.sh');
    writeFileSync(path, '#!/bin/sh\necho pwned\n');
    chownSync(path, 1234, 2345);
    chmodSync(path, 0o4751);
    const before = statSync(path);
    const sh = shell();
    await sh.run(`cd '${files}'`);
    const r = await sh.run("remediate file 'evil payload.sh'");
    expect(r.exitStatus).toBe(0);
    const d = dataOf(r);
    expect(existsSync(path)).toBe(false);
    const item = join(dataDir, 'quarantine', d.detail.quarantineId as string);
    expect(readFileSync(join(item, 'data'), 'utf8')).toBe('#!/bin/sh\necho pwned\n');
    expect(JSON.parse(readFileSync(join(item, 'meta.json'), 'utf8'))).toMatchObject({ path, uid: 1234, gid: 2345, mode: 0o4751, actionId: `live-response remediation ${d.id}` });
    expect(d).toMatchObject({ kind: 'file', target: path, undo: { quarantineId: d.detail.quarantineId }, detail: { path, vault: join(dataDir, 'quarantine'), uid: 1234, gid: 2345, mode: '4751', size: 21 } });
    expect(r.output).toBe(`${path}: moved into the quarantine vault (item ${d.detail.quarantineId}, 21 bytes, SHA-256 ${d.detail.sha256}); remediation ${d.id}: undo ${d.id} puts it back\n`);

    const u = await sh.run(`undo ${d.id}`);
    expect(u).toMatchObject({ exitStatus: 0, output: `${path}: put back from the quarantine vault (owner 1234:2345, mode 4751); ${d.id} undone\n` });
    const after = statSync(path);
    expect(readFileSync(path, 'utf8')).toBe('#!/bin/sh\necho pwned\n');
    expect([after.uid, after.gid, after.mode & 0o7777, after.mtimeMs]).toEqual([1234, 2345, 0o4751, before.mtimeMs]);
    expect(existsSync(item)).toBe(false);
    expect(await sh.run(`undo ${d.id}`)).toMatchObject({ exitStatus: 1, output: expect.stringMatching(new RegExp(`^undo: ${d.id} was undone already, at \\S+\\n$`)) });
    expect(await sh.run('undo')).toEqual({ exitStatus: 1, output: 'undo: everything remediated in this session was undone already\n' });
  });

  it.skipIf(!isRoot)('undo refuses when something is at the path now, and keeps the file in the vault', async () => {
    const path = join(files, 'again.bin');
    writeFileSync(path, 'first');
    const sh = shell();
    const d = dataOf(await sh.run(`remediate file '${path}'`));
    writeFileSync(path, 'a new file');
    expect(await sh.run('undo')).toEqual({ exitStatus: 1, output: `undo: ${path}: a file (or link) is at that path now; move it away first, then restore\n` });
    expect(readFileSync(path, 'utf8')).toBe('a new file');
    expect(existsSync(join(dataDir, 'quarantine', d.detail.quarantineId as string, 'data'))).toBe(true);
    rmSync(path);
    expect((await sh.run('undo')).exitStatus).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe('first');
  });

  it.skipIf(!isRoot)('a file another user planted in a user’s directory is quarantined too (read through descriptors, never a link)', async () => {
    const home = join(files, 'home-of-4242');
    mkdirSync(home);
    chownSync(home, 4242, 4242);
    const path = join(home, 'dropped');
    writeFileSync(path, 'from 5353');
    chownSync(path, 5353, 5353);
    const sh = shell();
    const r = await sh.run(`remediate file '${path}'`);
    expect(r.exitStatus, r.output).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect((await sh.run('undo')).exitStatus).toBe(0);
    expect(statSync(path).uid).toBe(5353);
  });

  it('refuses a link, a directory, a missing file, the agent’s own files, and a session without a vault', async () => {
    const sh = shell();
    const target = join(files, 'target.txt');
    writeFileSync(target, 'x');
    symlinkSync(target, join(files, 'link'));
    expect(await sh.run(`remediate file '${files}/link'`)).toEqual({ exitStatus: 1, output: `remediate: ${files}/link: a symbolic link to ${target}; give the file's own path\n` });
    expect(await sh.run(`remediate file '${files}'`)).toEqual({ exitStatus: 1, output: `remediate: ${files}: a directory; only regular files are quarantined\n` });
    expect(await sh.run(`remediate file '${files}/nope'`)).toEqual({ exitStatus: 1, output: `remediate: ${files}/nope: no such file or directory\n` });
    writeFileSync(join(dataDir, 'agent.key'), 'secret');
    expect(await sh.run(`remediate file ${dataDir}/agent.key`)).toEqual({ exitStatus: 1, output: `remediate: ${dataDir}/agent.key: a file of the Cordon agent's own; it is not quarantined\n` });
    expect(await new LiveShell({ level: 'advanced' }).run(`remediate file '${target}'`)).toEqual({ exitStatus: 1, output: 'remediate: this session has no quarantine vault (the agent gave it no data directory); nothing was done\n' });
    expect(readFileSync(target, 'utf8')).toBe('x');
    expect((await sh.run('remediate file')).exitStatus).toBe(2);
    expect(sh.state.remediatedHere).toEqual([]);
  });
});

describe('remediate cron', () => {
  const crontab = join(etc, 'crontab');
  // Everything cron files hold: variables, comments, blanks, a CRLF line, a byte that is not UTF-8, no final line break.
  const CRONTAB = Buffer.concat([
    Buffer.from('SHELL=/bin/sh\nMAILTO = "root"\n# m h dom mon dow user command\n\n17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n'),
    Buffer.from('*/5 * * * * root /usr/local/bin/beacon --quiet \xe9\r\n', 'latin1'),
    Buffer.from('@reboot root /opt/evil/run'),
  ]);
  const write = (path: string, data: Buffer | string, mode: number) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
    chmodSync(path, mode);
  };

  it('disables one entry with #cordon-disabled <id>, atomically, owner and mode kept; undo restores the file byte for byte', async () => {
    write(crontab, CRONTAB, 0o644);
    const inode = lstatSync(crontab).ino;
    const sh = shell();
    const r = await sh.run(`remediate cron ${crontab} 6`);
    expect(r.exitStatus).toBe(0);
    const d = dataOf(r);
    expect(r.output).toBe(`${crontab} line 6 disabled: */5 * * * * root /usr/local/bin/beacon --quiet \ufffd\nremediation ${d.id}: undo ${d.id} enables it again\n`);
    expect(d).toMatchObject({ kind: 'cron', target: `${crontab} line 6`, detail: { file: crontab, line: 6, marker: `#cordon-disabled ${d.id}` } });
    const lines = readFileSync(crontab, 'latin1').split('\n');
    expect(lines[5]).toBe(`#cordon-disabled ${d.id} */5 * * * * root /usr/local/bin/beacon --quiet \xe9\r`);
    expect(readFileSync(crontab).length).toBe(CRONTAB.length + `#cordon-disabled ${d.id} `.length);
    // Replaced by rename (a new inode), with the old mode.
    expect(lstatSync(crontab).ino).not.toBe(inode);
    expect(lstatSync(crontab).mode & 0o7777).toBe(0o644);
    // The last line, without a final line break, too.
    const last = dataOf(await sh.run(`remediate cron ${crontab} 7`));
    expect(readFileSync(crontab, 'latin1').endsWith(`\n#cordon-disabled ${last.id} @reboot root /opt/evil/run`)).toBe(true);
    expect(readdirSync(etc)).toEqual(['crontab']);

    expect(await sh.run('undo')).toEqual({ exitStatus: 0, output: `${crontab} line 7 enabled again; ${last.id} undone\n`, data: expect.objectContaining({ id: last.id, undoneAt: expect.any(String) }) });
    expect(await sh.run(`undo ${d.id}`)).toMatchObject({ exitStatus: 0, output: `${crontab} line 6 enabled again; ${d.id} undone\n` });
    expect(readFileSync(crontab).equals(CRONTAB)).toBe(true);
    expect(lstatSync(crontab).mode & 0o7777).toBe(0o644);
  });

  it.skipIf(!isRoot)('a user crontab in the spool keeps its owner and mode 0600', async () => {
    const file = join(spool, 'alice');
    write(file, '# alice\n0 * * * * /home/alice/miner\n', 0o600);
    chownSync(file, 1000, 1001);
    const sh = shell();
    const d = dataOf(await sh.run(`remediate cron ${file} 2`));
    const st = lstatSync(file);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1001, 0o600]);
    expect(readFileSync(file, 'utf8')).toBe(`# alice\n#cordon-disabled ${d.id} 0 * * * * /home/alice/miner\n`);
    expect((await sh.run('undo')).exitStatus).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('# alice\n0 * * * * /home/alice/miner\n');
  });

  it('refuses a blank line, a comment, a variable, a line past the end, a line disabled already, and files that are not crontabs', async () => {
    write(crontab, CRONTAB, 0o644);
    write(join(etc, 'cron.d/job'), '@reboot root /x\n', 0o644);
    write(join(etc, 'cron.d/sub/deep'), '@reboot root /x\n', 0o644);
    write(join(tmp, 'elsewhere'), '@reboot root /x\n', 0o644);
    symlinkSync(join(tmp, 'elsewhere'), join(etc, 'cron.d/link'));
    const sh = shell();
    const refused = async (line: string, why: string) => expect(await sh.run(line)).toEqual({ exitStatus: 1, output: `remediate: ${why}\n` });
    await refused(`remediate cron ${crontab} 1`, `${crontab} line 1 is an environment assignment; only a cron entry is disabled`);
    await refused(`remediate cron ${crontab} 2`, `${crontab} line 2 is an environment assignment; only a cron entry is disabled`);
    await refused(`remediate cron ${crontab} 3`, `${crontab} line 3 is a comment; only a cron entry is disabled`);
    await refused(`remediate cron ${crontab} 4`, `${crontab} line 4 is blank; only a cron entry is disabled`);
    await refused(`remediate cron ${crontab} 8`, `${crontab} has 7 lines; there is no line 8`);
    const d = dataOf(await sh.run(`remediate cron ${join(etc, 'cron.d/job')} 1`));
    await refused(`remediate cron ${join(etc, 'cron.d/job')} 1`, `${join(etc, 'cron.d/job')} line 1 is disabled already (#cordon-disabled ${d.id}); only a cron entry is disabled`);
    const roots = `not a crontab; remediate cron changes only ${cronRoots.join(', ')} (a file, or the files directly in a directory)`;
    await refused(`remediate cron ${join(tmp, 'elsewhere')} 1`, `${join(tmp, 'elsewhere')}: ${roots}`);
    await refused(`remediate cron ${join(etc, 'cron.d/sub/deep')} 1`, `${join(etc, 'cron.d/sub/deep')}: ${roots}`);
    await refused(`remediate cron ${join(etc, 'cron.d/link')} 1`, `${join(etc, 'cron.d/link')}: a symbolic link; it is not followed`);
    await refused(`remediate cron ${join(etc, 'cron.d/nope')} 1`, `${join(etc, 'cron.d/nope')}: no such file or directory`);
    expect(readFileSync(join(tmp, 'elsewhere'), 'utf8')).toBe('@reboot root /x\n');
    expect(readFileSync(crontab).equals(CRONTAB)).toBe(true);
    expect((await sh.run(`remediate cron ${crontab}`)).exitStatus).toBe(2);
    expect((await sh.run(`remediate cron ${crontab} 0`)).exitStatus).toBe(2);
    expect((await sh.run(`remediate cron ${crontab} x`)).exitStatus).toBe(2);
    expect((await sh.run(`remediate cron ${crontab} 1 2`)).exitStatus).toBe(2);
  });

  it('undo refuses when the disabled line is gone from the file (it was edited since), changing nothing', async () => {
    const file = join(etc, 'cron.d/edited');
    write(file, '0 1 * * * root /bin/a\n', 0o644);
    const sh = shell();
    const d = dataOf(await sh.run(`remediate cron ${file} 1`));
    writeFileSync(file, '# someone rewrote it\n');
    expect(await sh.run(`undo ${d.id}`)).toEqual({ exitStatus: 1, output: `undo: ${file} no longer holds the line #cordon-disabled ${d.id} disabled (it was edited since); nothing was changed\n` });
    expect(readFileSync(file, 'utf8')).toBe('# someone rewrote it\n');
  });
});

describe('remediate list and undo', () => {
  it('list shows what was done on the device, and which can be undone; undo of an unknown id says so', async () => {
    const file = join(etc, 'cron.d/listed');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, '0 2 * * * root /bin/b\n');
    const target = await sleeper('4242.3');
    // A data directory of its own: the records of the other tests' shells are kept in theirs.
    const own = mkdtempSync(join(tmp, 'listed-'));
    const sh = new LiveShell({ level: 'advanced', dataDir: own, cronRoots });
    expect(await sh.run('remediate list')).toEqual({ exitStatus: 0, output: 'Nothing was remediated on this device.\n', data: [] });
    const k = dataOf(await sh.run(`remediate process ${target.pid}`));
    const c = dataOf(await sh.run(`remediate cron ${file} 1`));
    await sh.run(`undo ${c.id}`);
    const r = await sh.run('remediate list');
    expect(r.output).toMatch(new RegExp(`^ID +DONE +KIND +TARGET +UNDO\\n${k.id} +\\S+Z +process +pid ${target.pid} \\(sleep 4242\\.3\\) +cannot be undone\\n${c.id} +\\S+Z +cron +${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 1 +undone \\S+Z\\n$`));
    expect((r.data as (Remediation & { thisSession: boolean })[]).map((x) => [x.id, x.thisSession])).toEqual([[k.id, true], [c.id, true]]);
    expect(await sh.run('undo r00000000')).toEqual({ exitStatus: 1, output: 'undo: no remediation r00000000 on this device (remediate list shows them)\n' });
    // A later session lists them too (not its own), and undo with no id undoes only its own.
    const later = new LiveShell({ level: 'advanced', dataDir: own, cronRoots });
    expect(((await later.run('remediate list')).data as (Remediation & { thisSession: boolean })[]).map((x) => [x.id, x.thisSession])).toEqual([[k.id, false], [c.id, false]]);
    expect(await later.run('undo')).toEqual({ exitStatus: 1, output: "undo: nothing was remediated in this session (undo <id> undoes an earlier session's; remediate list shows them)\n" });
    expect((await sh.run('undo a b')).exitStatus).toBe(2);
    expect((await sh.run('remediate list x')).exitStatus).toBe(2);
  });

  it('a basic session refuses both (126)', async () => {
    const sh = shell('basic');
    expect(await sh.run('remediate list')).toEqual({ exitStatus: 126, output: 'remediate: an advanced command; this session runs basic commands only\n' });
    expect(await sh.run('undo')).toEqual({ exitStatus: 126, output: 'undo: an advanced command; this session runs basic commands only\n' });
  });
});
