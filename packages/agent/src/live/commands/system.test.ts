import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OwnedSocket } from '../../actions/collect-package/collectors/network-connections.js';
import type { ProcessRow } from '../../actions/collect-package/collectors/processes.js';
import type { ServiceRow } from '../../actions/collect-package/collectors/services.js';
import type { ScheduledTask } from '../../actions/collect-package/parsers/cron.js';
import { linuxPlatform } from '../../platform/linux/index.js';
import { createSafeFiles } from '../../platform/linux/safe-files.js';
import { quickScope } from '../../platform/linux/scan-scope.js';
import type { Platform, SafeFiles } from '../../platform/types.js';
import { LiveShell } from '../session.js';
import type { PersistenceEntry, PersistenceFile } from './persistence.js';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts a program and waits until it runs (or, with `ready`, until it prints a line). */
async function start(file: string, args: string[], ready = false): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let line = '';
  if (ready) line = await new Promise((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  else await new Promise((resolve) => child.once('spawn', resolve));
  return { child, line };
}

describe('processes and connections, on the real /proc', () => {
  it('processes lists a running sleep with its pid, parent, user, start time and command line', async () => {
    const { child } = await start('sleep', ['4242.5']);
    const r = await new LiveShell({ level: 'basic' }).run('processes');
    expect(r.exitStatus).toBe(0);
    const row = (r.data as ProcessRow[]).find((p) => p.pid === child.pid);
    expect(row).toMatchObject({ pid: child.pid, ppid: process.pid, uid: process.getuid!(), name: 'sleep', commandLine: 'sleep 4242.5' });
    expect(Date.now() - Date.parse(row!.startTime)).toBeLessThan(120_000);
    expect(row).not.toHaveProperty('exeSha256');
    expect(r.output.split('\n')[0]).toMatch(/^PID +PPID +USER +STARTED +COMMAND$/);
    expect(r.output).toMatch(new RegExp(`^${child.pid} +${process.pid} +\\S+ +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +sleep 4242\\.5$`, 'm'));
  });

  it('connections lists a listening TCP socket and a bound UDP socket with the process holding them', async () => {
    const { child, line } = await start(
      process.execPath,
      ['-e', "const net=require('net'),dgram=require('dgram');const s=net.createServer().listen(0,'127.0.0.1',()=>{const u=dgram.createSocket('udp4');u.bind(0,'127.0.0.1',()=>console.log(s.address().port+' '+u.address().port))})"],
      true,
    );
    const [tcp, udp] = line.split(' ').map(Number);
    const r = await new LiveShell({ level: 'basic' }).run('connections');
    expect(r.exitStatus).toBe(0);
    const sockets = r.data as OwnedSocket[];
    expect(sockets.find((s) => s.proto === 'tcp' && s.local === `127.0.0.1:${tcp}`)).toMatchObject({ state: 'LISTEN', remote: '0.0.0.0:0', owners: [{ pid: child.pid, program: 'node' }] });
    expect(sockets.find((s) => s.proto === 'udp' && s.local === `127.0.0.1:${udp}`)).toMatchObject({ state: 'UNCONN', owners: [{ pid: child.pid, program: 'node' }] });
    expect(r.output.split('\n')[0]).toMatch(/^PROTO +STATE +LOCAL +REMOTE +PROCESS$/);
    expect(r.output).toMatch(new RegExp(`^tcp +LISTEN +127\\.0\\.0\\.1:${tcp} +0\\.0\\.0\\.0:0 +${child.pid}/node$`, 'm'));
  });
});

/**
 * Safe file access on a fixture tree standing for '/': each absolute path is read below `sysroot`
 * (through the real checks), and paths answered are given back without it.
 */
function rootedFiles(sysroot: string): SafeFiles {
  const real = createSafeFiles();
  const at = (p: string) => (p === '/' ? sysroot : sysroot + p);
  const back = (p: string | null) => (p === null ? null : p.startsWith(sysroot) ? p.slice(sysroot.length) || '/' : p);
  return {
    readFile: (p) => real.readFile(at(p)),
    readText: (p) => real.readText(at(p)),
    readRange: (p, o, l) => real.readRange(at(p), o, l),
    openFile: (p, o) => real.openFile(at(p), o),
    readPieces: (p, o) => real.readPieces(at(p), o),
    readDir: (p, o) => real.readDir(at(p), o),
    lstat: (p) => real.lstat(at(p)),
    stat: (p, o) => real.stat(at(p), o),
    realpath: async (p) => back(await real.realpath(at(p))),
    readlink: (p) => real.readlink(at(p)),
    sha256: (p, o) => real.sha256(at(p), o),
  };
}

describe('persistence, services and scheduledtasks, on a fixture tree standing for /', () => {
  const root = mkdtempSync(join(tmpdir(), 'cordon-live-root-'));
  const file = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const link = (target: string, path: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  };
  const platform: Platform = {
    ...linuxPlatform,
    files: () => rootedFiles(root),
    // The real Quick scope of the fixture tree (no /proc there: no processes, no mounts).
    scanScope: async () => {
      const s = await quickScope({ files: createSafeFiles(), sysroot: root, proc: join(root, 'proc') });
      return { roots: s.roots.map((r) => ({ ...r, path: r.path.slice(root.length) })), skipped: s.skipped };
    },
  };
  const shell = () => new LiveShell({ level: 'basic', platform });

  beforeAll(() => {
    file('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n');
    file('/etc/group', 'root:x:0:\nalice:x:1000:\n');
    file('/etc/systemd/system/evil.service', '[Unit]\nDescription=Totally legit\n[Service]\nUser=alice\nExecStartPre=-/bin/true\nExecStart=/opt/evil/run --flag\n[Install]\nWantedBy=multi-user.target\n');
    link('/etc/systemd/system/evil.service', '/etc/systemd/system/multi-user.target.wants/evil.service');
    file('/etc/systemd/system/idle.service', '[Unit]\nDescription=Not enabled\n[Service]\nExecStart=/bin/idle\n');
    file('/etc/systemd/system/tick.timer', '[Timer]\nOnCalendar=hourly\nUnit=evil.service\n');
    link('/etc/systemd/system/tick.timer', '/etc/systemd/system/timers.target.wants/tick.timer');
    file('/opt/evil/run', '#!/bin/sh\n');
    file('/etc/crontab', 'SHELL=/bin/sh\n*/5 * * * * root /usr/local/bin/beacon --quiet\n');
    file('/usr/local/bin/beacon', '#!/bin/sh\n');
    file('/etc/cron.d/job', '@reboot alice /home/alice/.local/bin/x\n');
    file('/var/spool/cron/crontabs/alice', '0 * * * * /home/alice/miner\n');
    file('/home/alice/miner', '#!/bin/sh\n');
    file('/etc/rc.local', '#!/bin/sh -e\n# comment\n/opt/evil/run &\nexit 0\n');
    file('/etc/ld.so.preload', '# preload\n/usr/lib/libevil.so\n');
    file('/usr/lib/libevil.so', 'ELF');
    file('/home/alice/.ssh/authorized_keys', 'command="/home/alice/backdoor.sh",no-pty ssh-ed25519 AAAAC3Nza alice@x\nssh-ed25519 AAAAplain bob@y\n');
    file('/home/alice/backdoor.sh', '#!/bin/sh\n');
    file('/home/alice/.bashrc', 'alias ll="ls -l"\n/home/alice/miner &\n');
    // dpkg installed the beacon (so it is "from a package"); nothing else.
    file('/var/lib/dpkg/info/beacon.list', '/usr/local/bin/beacon\n');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('persistence: enabled units, cron, timers, rc.local, ld.so.preload and authorized_keys options, then the files, not-from-a-package first', async () => {
    const r = await shell().run('persistence');
    expect(r.exitStatus).toBe(0);
    const { entries, files } = r.data as { entries: PersistenceEntry[]; files: PersistenceFile[] };
    expect(entries).toEqual(
      expect.arrayContaining([
        { kind: 'systemd', user: 'alice', when: 'wanted by multi-user.target', runs: '-/bin/true; /opt/evil/run --flag', file: '/etc/systemd/system/evil.service' },
        { kind: 'cron', user: 'root', when: '*/5 * * * *', runs: '/usr/local/bin/beacon --quiet', file: '/etc/crontab' },
        { kind: 'cron', user: 'alice', when: '@reboot', runs: '/home/alice/.local/bin/x', file: '/etc/cron.d/job' },
        { kind: 'cron', user: 'alice', when: '0 * * * *', runs: '/home/alice/miner', file: '/var/spool/cron/crontabs/alice' },
        { kind: 'systemd-timer', user: 'root', when: 'OnCalendar=hourly', runs: 'evil.service', file: '/etc/systemd/system/tick.timer' },
        { kind: 'rc.local', user: 'root', when: 'boot', runs: '/opt/evil/run &', file: '/etc/rc.local' },
        { kind: 'ld.so.preload', user: 'every program', when: 'every program start', runs: '/usr/lib/libevil.so', file: '/etc/ld.so.preload' },
        { kind: 'authorized_keys', user: 'alice', when: 'ssh login with this key', runs: 'command="/home/alice/backdoor.sh",no-pty ssh-ed25519 AAAAC3Nza alice@x', file: '/home/alice/.ssh/authorized_keys' },
      ]),
    );
    // A unit nobody enabled is no persistence; a key without options is not listed as a command.
    expect(entries.some((e) => e.runs.includes('/bin/idle') || e.runs.includes('bob@y'))).toBe(false);
    const byPath = new Map(files.map((f) => [f.path, f]));
    for (const p of ['/opt/evil/run', '/home/alice/miner', '/home/alice/backdoor.sh', '/usr/lib/libevil.so', '/etc/ld.so.preload', '/home/alice/.bashrc', '/home/alice/.ssh/authorized_keys', '/etc/rc.local']) {
      expect(byPath.get(p), p).toMatchObject({ type: 'file', fromPackage: false });
    }
    expect(byPath.get('/usr/local/bin/beacon')).toMatchObject({ type: 'file', fromPackage: true });
    expect(files.findIndex((f) => f.fromPackage)).toBeGreaterThan(files.findLastIndex((f) => !f.fromPackage));
    expect(r.output).toMatch(/^What starts programs:\nKIND +USER +WHEN +RUNS +FILE\n/);
    expect(r.output).toMatch(/^systemd +alice +wanted by multi-user\.target +-\/bin\/true; \/opt\/evil\/run --flag +\/etc\/systemd\/system\/evil\.service$/m);
    expect(r.output).toMatch(/^file +root +\S+ +NO +\/opt\/evil\/run$/m);
    expect(r.output).toMatch(/^file +root +\S+ +yes +\/usr\/local\/bin\/beacon$/m);
  });

  it('scheduledtasks: cron entries and systemd timers', async () => {
    const r = await shell().run('scheduledtasks');
    expect(r.exitStatus).toBe(0);
    expect((r.data as ScheduledTask[]).map((t) => [t.type, t.user, t.schedule, t.command])).toEqual([
      ['cron', 'root', '*/5 * * * *', '/usr/local/bin/beacon --quiet'],
      ['cron', 'alice', '@reboot', '/home/alice/.local/bin/x'],
      ['cron', 'alice', '0 * * * *', '/home/alice/miner'],
      ['systemd-timer', 'root', 'OnCalendar=hourly', 'evil.service'],
    ]);
    expect(r.output).toMatch(/^TYPE +USER +SCHEDULE +ENABLED +COMMAND +FILE\ncron +root +\*\/5 \* \* \* \* +yes +\/usr\/local\/bin\/beacon --quiet +\/etc\/crontab\n/);
  });

  it('services: unit files with whether they are enabled (and live states when systemd runs)', async () => {
    const r = await shell().run('services');
    expect(r.exitStatus).toBe(0);
    const { services } = r.data as { systemdRunning: boolean; services: ServiceRow[] };
    expect(services.find((s) => s.name === 'evil.service')).toMatchObject({ enabled: 'enabled', execStart: '/opt/evil/run --flag', user: 'alice', unitFile: '/etc/systemd/system/evil.service' });
    expect(services.find((s) => s.name === 'idle.service')).toMatchObject({ enabled: 'disabled', description: 'Not enabled' });
    expect(r.output).toMatch(/^SERVICE +ENABLED +STATE +DESCRIPTION$/m);
    expect(r.output).toMatch(/^idle\.service +disabled +\S+ +Not enabled$/m);
  });
});

describe('on this machine', () => {
  it('persistence, services and scheduledtasks read the real device without failing', async () => {
    const sh = new LiveShell({ level: 'basic' });
    for (const line of ['persistence', 'services', 'scheduledtasks']) {
      const r = await sh.run(line);
      expect(r.exitStatus, `${line}: ${r.output.slice(-300)}`).toBe(0);
      expect(r.output.length, line).toBeGreaterThan(0);
    }
  }, 60_000);
});
