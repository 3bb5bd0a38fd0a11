import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, lchownSync, mkdirSync, mkdtempSync, readlinkSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ScanRoot, ScanScope } from '../types.js';
import { createSafeFiles } from './safe-files.js';
import { fullScope, linuxScanScope, quickScope } from './scan-scope.js';

const tmp = mkdtempSync(join(tmpdir(), 'cordon-scope-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(root: string, path: string, text = 'x\n'): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

/** The roots of a scope, relative to a sysroot: path -> "why recursive|files". */
function table(scope: ScanScope, sysroot: string): Record<string, string> {
  return Object.fromEntries(scope.roots.map((r) => [r.path.slice(sysroot.length) || '/', `${r.why}${r.recursive ? ' recursive' : ''}`]));
}

describe('Quick scope of a tree that stands for a machine', () => {
  const sys = join(tmp, 'sys');
  const missingProc = join(tmp, 'no-proc');
  const evil = ['svc', 'pre', 'post', 'cron-boot', 'cron-d', 'libhook.so', 'rc', 'forced', 'rc-helper', 'env-preload.so', 'anacron-job', 'autostart'];

  function build() {
    write(sys, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n');
    for (const e of evil) write(sys, `opt/evil/${e}`);
    write(sys, 'etc/systemd/system/evil.service', '[Service]\nExecStartPre=-/opt/evil/pre\nExecStart=@/opt/evil/svc svc-argv0 /opt/evil/absent /opt\n');
    write(sys, 'etc/systemd/system/evil.service.d/override.conf', '[Service]\nExecStartPost=+/opt/evil/post\n');
    write(sys, 'etc/crontab', 'SHELL=/bin/sh\n@reboot root /opt/evil/cron-boot\n');
    write(sys, 'etc/cron.d/job', '* * * * * root /opt/evil/cron-d >/dev/null 2>&1\n');
    write(sys, 'var/spool/cron/crontabs/alice', '* * * * * /home/alice/.x/miner -o pool\n');
    write(sys, 'etc/anacrontab', '1 5 job /opt/evil/anacron-job\n');
    write(sys, 'etc/ld.so.preload', '/opt/evil/libhook.so\n');
    write(sys, 'etc/environment', 'LD_PRELOAD=/opt/evil/env-preload.so\n');
    write(sys, 'etc/rc.local', '#!/bin/sh\n# /opt/evil/commented-out\n/opt/evil/rc &\nexit 0\n');
    write(sys, 'etc/init.d/ssh', '#!/bin/sh\n');
    write(sys, 'etc/xdg/autostart/a.desktop', '[Desktop Entry]\nExec=/opt/evil/autostart\n');
    write(sys, 'root/.bashrc', 'export PATH=/opt/evil:$PATH\n/opt/evil/rc-helper\n');
    write(sys, 'root/.ssh/authorized_keys', 'command="/opt/evil/forced --x",no-pty ssh-ed25519 AAAA root\nssh-ed25519 AAAA plain\n');
    write(sys, 'home/alice/.config/systemd/user/u.service', '[Service]\nExecStart=%h/.local/bin/agent\n');
    write(sys, 'home/alice/.local/bin/agent');
    write(sys, 'home/alice/.config/autostart/tray.desktop', '[Desktop Entry]\nExec=/opt/evil/user-autostart --tray\n');
    write(sys, 'opt/evil/user-autostart');
    write(sys, 'home/alice/.local/share/containers/storage/big');
    write(sys, 'home/alice/.x/miner');
    write(sys, 'home/alice/.hidden-bin');
    write(sys, 'home/alice/.cache/browser/big');
    write(sys, 'home/alice/Documents/letter');
    write(sys, 'home/alice/Téléchargements/setup.sh');
    write(sys, 'home/alice/.config/user-dirs.dirs', 'XDG_DOWNLOAD_DIR="$HOME/Téléchargements"\n');
    write(sys, 'home/bob/Downloads/x');
    for (const d of ['tmp', 'var/tmp', 'dev/shm', 'var/www/html', 'usr/bin']) mkdirSync(join(sys, d), { recursive: true });
    write(sys, 'usr/bin/sleep');
    write(sys, 'etc/cron.d/bare', '* * * * * root sleep 10\n');
    // alice's home is hers: her .bashrc, a link to /etc/shadow, is one she could have planted.
    write(sys, 'etc/shadow', 'root:*:1::::::\n');
    symlinkSync(join(sys, 'etc/shadow'), join(sys, 'home/alice/.bashrc'));
    lchownSync(join(sys, 'home/alice/.bashrc'), 1000, 1000);
    chownSync(join(sys, 'home/alice'), 1000, 1000);
  }

  it('names persistence and the programs it runs, temp dirs, homes and web roots; leaves out what is missing, bulky or planted', async () => {
    build();
    const scope = await quickScope({ files: createSafeFiles(), sysroot: sys, proc: missingProc });
    const roots = table(scope, sys);
    expect(roots).toMatchObject({
      '/etc/systemd/system': 'persistence recursive',
      '/opt/evil/svc': 'persistence',
      '/opt/evil/pre': 'persistence',
      '/opt/evil/post': 'persistence',
      '/etc/crontab': 'persistence',
      '/etc/cron.d': 'persistence',
      '/opt/evil/cron-boot': 'persistence',
      '/opt/evil/cron-d': 'persistence',
      '/usr/bin/sleep': 'persistence',
      '/var/spool/cron/crontabs': 'persistence',
      '/home/alice/.x/miner': 'persistence',
      '/opt/evil/anacron-job': 'persistence',
      '/etc/ld.so.preload': 'persistence',
      '/opt/evil/libhook.so': 'persistence',
      '/opt/evil/env-preload.so': 'persistence',
      '/etc/rc.local': 'persistence',
      '/opt/evil/rc': 'persistence',
      '/etc/init.d': 'persistence',
      '/etc/xdg/autostart': 'persistence recursive',
      '/opt/evil/autostart': 'persistence',
      '/home/alice/.config/autostart': 'persistence recursive',
      '/opt/evil/user-autostart': 'persistence',
      '/root/.bashrc': 'persistence',
      '/opt/evil/rc-helper': 'persistence',
      '/root/.ssh/authorized_keys': 'persistence',
      '/opt/evil/forced': 'persistence',
      '/home/alice/.config/systemd/user': 'persistence recursive',
      '/home/alice/.local/bin/agent': 'persistence',
      '/tmp': 'temp recursive',
      '/var/tmp': 'temp recursive',
      '/dev/shm': 'temp recursive',
      '/root/.ssh': 'home recursive',
      '/home/alice/.config': 'home recursive',
      '/home/alice/.local': 'home recursive',
      '/home/alice/.x': 'home recursive',
      '/home/alice/.hidden-bin': 'home',
      '/home/alice/Téléchargements': 'home recursive',
      '/home/bob/Downloads': 'home recursive',
      '/var/www': 'webroot recursive',
    });
    // Missing (absent), directories named on a command line (/opt), documents, caches, and the planted link.
    for (const p of ['/opt/evil/absent', '/opt', '/home/alice/Documents', '/home/alice/Downloads', '/home/alice/.cache', '/home/alice/.bashrc', '/etc/shadow', '/srv/www', '/opt/evil/commented-out', '/usr/sbin']) expect(roots).not.toHaveProperty(p);
    expect(scope.roots.find((r) => r.path === `${sys}/home/alice/.local`)?.prune).toEqual([`${sys}/home/alice/.local/share/containers`]);
    const skipped = Object.fromEntries(scope.skipped.map((s) => [s.path.slice(sys.length), s.reason]));
    expect(skipped['/home/alice/.bashrc']).toMatch(/symbolic link a user could have planted/);
    expect(skipped['/home/alice/.cache']).toMatch(/cache/);
    expect(skipped['/home/alice/.local/share/containers']).toMatch(/cache/);
    // Each path once; the first reason wins (authorized_keys is persistence, not just a file of ~/.ssh).
    expect(new Set(scope.roots.map((r) => r.path)).size).toBe(scope.roots.length);
  });
});

describe('Full scope from a mount table', () => {
  const proc = join(tmp, 'proc');
  const mountinfo = [
    '22 27 0:21 / /proc rw - proc proc rw',
    '23 27 0:22 / /sys rw - sysfs sysfs rw',
    '27 1 254:0 / / rw - ext4 /dev/vda rw',
    '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw',
    '24 27 0:6 / /dev rw - devtmpfs devtmpfs rw',
    '25 24 0:23 / /dev/shm rw - tmpfs tmpfs rw',
    '42 27 254:0 /run/netns /run/netns rw - ext4 /dev/vda rw',
    '43 27 254:1 / /home rw - ext4 /dev/vdb rw',
    '44 27 254:1 /alice /srv/alice rw - ext4 /dev/vdb rw',
    '45 27 0:40 / /mnt/nfs rw - nfs4 srv:/e rw',
    '46 43 0:41 / /home/alice/sshfs rw - fuse.sshfs a@b: rw,user_id=1000,group_id=1000',
    '47 27 0:42 / /mnt/old rw - ext4 /dev/vdc rw',
    '48 27 0:43 / /mnt/old rw - xfs /dev/vdd rw',
    '49 27 0:44 / /media/my\\040usb rw - vfat /dev/sde1 rw',
    '50 27 0:45 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw',
    '51 27 0:46 / /snap/core/1 ro - squashfs /dev/loop0 ro',
  ].join('\n');

  it('roots every local file system once, and says why the others are left out', async () => {
    write(proc, 'self/mountinfo', `${mountinfo}\n`);
    const scope = await fullScope({ files: createSafeFiles(), proc });
    expect(scope.roots.map((r) => [r.path, r.why, r.recursive])).toEqual([
      ['/', 'filesystem', true],
      ['/dev/shm', 'filesystem', true],
      ['/home', 'filesystem', true],
      ['/mnt/old', 'filesystem', true],
      ['/media/my usb', 'filesystem', true],
      ['/snap/core/1', 'filesystem', true],
    ]);
    expect(scope.roots[0]!.prune).toEqual(expect.arrayContaining(['/proc', '/sys', '/dev', '/home', '/mnt/nfs', '/media/my usb']));
    expect(scope.roots[0]!.prune).not.toContain('/');
    expect(scope.roots.find((r) => r.path === '/home')!.prune).toEqual(['/home/alice/sshfs']);
    const skipped = Object.fromEntries(scope.skipped.map((s) => [s.path, s.reason]));
    expect(Object.keys(skipped).sort()).toEqual(['/home/alice/sshfs', '/mnt/nfs', '/run/netns', '/srv/alice']);
    expect(skipped['/mnt/nfs']).toMatch(/network file system \(nfs4/);
    expect(skipped['/home/alice/sshfs']).toMatch(/uid 1000/);
    expect(skipped['/run/netns']).toBe('a second mount of /run/netns of the file system mounted at /, scanned there');
    expect(skipped['/srv/alice']).toMatch(/mounted at \/home/);
  });

  it('includes network file systems when asked (a user FUSE mount still not)', async () => {
    write(proc, 'self/mountinfo', `${mountinfo}\n`);
    const scope = await fullScope({ files: createSafeFiles(), proc, networkMounts: true });
    expect(scope.roots.map((r) => r.path)).toContain('/mnt/nfs');
    expect(scope.skipped.map((s) => s.path)).toContain('/home/alice/sshfs');
  });
});

describe('running programs', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  async function started(child: ChildProcess, path: string): Promise<number> {
    children.push(child);
    const pid = child.pid!;
    for (let i = 0; i < 200; i++) {
      const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
      if (exe.startsWith(path)) return pid;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`process ${pid} never ran ${path}`);
  }

  const processRoot = (scope: ScanScope, path: string): ScanRoot | undefined => scope.roots.find((r) => r.path === path);

  it('a running program is a root; one deleted after it started is read through /proc/<pid>/exe', async () => {
    const dir = mkdtempSync(join(tmp, 'prog-'));
    const kept = join(dir, 'kept-sleep');
    const gone = join(dir, 'gone-sleep');
    copyFileSync('/usr/bin/sleep', kept);
    copyFileSync('/usr/bin/sleep', gone);
    chmodSync(kept, 0o755);
    chmodSync(gone, 0o755);
    await started(spawn(kept, ['60'], { stdio: 'ignore' }), kept);
    const gonePid = await started(spawn(gone, ['60'], { stdio: 'ignore' }), gone);
    unlinkSync(gone);
    const scope = await linuxScanScope('Quick');
    expect(processRoot(scope, kept)).toEqual({ path: kept, why: 'process', recursive: false });
    expect(processRoot(scope, gone)).toEqual({ path: gone, why: 'process', recursive: false, readVia: `/proc/${gonePid}/exe`, note: `deleted (or replaced) after process ${gonePid} started` });
    // A Full scan finds the deleted one too (no file system walk would), but not the one its walk of / reaches.
    const full = await linuxScanScope('Full');
    expect(processRoot(full, gone)?.readVia).toBe(`/proc/${gonePid}/exe`);
    expect(processRoot(full, kept)).toBeUndefined();
  });

  it("a program of another mount namespace (a container's) is read through /proc, not through the host's path", async () => {
    const dir = mkdtempSync(join(tmp, 'ns-'));
    const inner = join(dir, 'sleep');
    // The tmpfs and the program exist only in the child's private mount namespace; this one sees an empty dir.
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs none ${dir} && cp /usr/bin/sleep ${inner} && exec ${inner} 60`], { stdio: 'ignore' });
    const pid = await started(child, inner);
    const scope = await linuxScanScope('Quick');
    expect(processRoot(scope, inner)).toMatchObject({ why: 'process', readVia: `/proc/${pid}/exe`, note: expect.stringContaining('another mount namespace') });
  });
});

describe('on this machine', () => {
  it('Quick: /tmp and this test process’s own executable, nothing under /proc or /sys', async () => {
    const scope = await linuxScanScope('Quick');
    const self = realpathSync(readlinkSync('/proc/self/exe'));
    expect(scope.roots).toContainEqual({ path: self, why: 'process', recursive: false });
    expect(scope.roots.find((r) => r.path === realpathSync('/tmp'))).toMatchObject({ why: 'temp', recursive: true });
    expect(scope.roots.filter((r) => /^\/(proc|sys)(\/|$)/.test(r.path))).toEqual([]);
    expect(new Set(scope.roots.map((r) => `${r.path}\0${r.readVia ?? ''}`)).size).toBe(scope.roots.length);
  });

  it("Full: '/' and no pseudo file systems", async () => {
    const scope = await linuxScanScope('Full');
    const fs = scope.roots.filter((r) => r.why === 'filesystem').map((r) => r.path);
    expect(fs).toContain('/');
    expect(fs.filter((p) => /^\/(proc|sys|dev\/pts)(\/|$)/.test(p) || p === '/dev')).toEqual([]);
    expect(scope.roots.find((r) => r.path === '/')!.prune).toEqual(expect.arrayContaining(['/proc', '/sys']));
  });
});
