/**
 * The native exec-guard (native/exec-guard.c) against the real kernel, always inside a private
 * mount namespace with a tmpfs of its own (testing.md, "Execution-control test bed"): the guard
 * marks that namespace's copies of the mounts, so the host's programs are never subject to it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execGuardBinary, execProbeBinary } from './exec-guard-binary.js';
import { dpkgPolicyLines, Guard, md5Of, MountNamespace, probe, sha256Of } from './exec-guard-testbed.js';

const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const skip =
  process.getuid?.() !== 0
    ? 'needs root (fanotify permission events, mount namespaces)'
    : !execGuardBinary().exists || !execProbeBinary().exists
      ? 'packages/agent/native/build/ has no cordon-exec-guard or exec-probe (run node scripts/build.mjs; needs cc and libssl-dev)'
      : !has('unshare') || !has('nsenter')
        ? 'needs unshare and nsenter (util-linux)'
        : !existsSync('/var/lib/dpkg/info/coreutils.md5sums')
          ? 'needs dpkg (the policy is made from its md5sums)'
          : '';

describe.skipIf(skip)(skip ? `exec-guard (skipped: ${skip})` : 'exec-guard', () => {
  const TRUE = '/usr/bin/true';
  const trueBytes = existsSync(TRUE) ? readFileSync(TRUE) : Buffer.alloc(0);
  const untrustedBytes = Buffer.concat([trueBytes, Buffer.from('x')]);
  // Trusted by their md5 only (the lazy-digest test); other inodes than true's, the same bytes in both.
  const md5OnlyBytes = Buffer.concat([trueBytes, Buffer.from('md5 only')]);
  // Host temp dir: the tmpfs is mounted over `mnt` inside the namespace only.
  const host = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-exec-guard-')));
  const mnt = join(host, 'mnt');
  const untrusted = join(mnt, 'untrusted');
  const tool = join(mnt, 'tool'); // trusted by the policy; a copy of true is bind-mounted over it
  const toolSource = join(mnt, 'tool-source');
  const md5Only = ['md5-only-1', 'md5-only-2'].map((n) => join(mnt, n));
  // A package manager of the policy (`manager` line): a copy of the shell, trusted by its md5.
  const SH = realpathSync('/bin/sh');
  const shBytes = existsSync(SH) ? readFileSync(SH) : Buffer.alloc(0);
  const fakeManager = join(mnt, 'fake-dpkg');
  const policyFile = join(host, 'policy');
  let basePolicy = '';
  let ns: MountNamespace;
  let guard: Guard | undefined;
  const guards: Guard[] = [];

  // Without the warm-up, which would hash dpkg's 1.6 GB of executables beside each test; the warm-up
  // tests start theirs with a small policy.
  const startGuard = (file = policyFile, extra: string[] = ['--no-warm']) => {
    const g = Guard.start(ns, file, extra);
    guards.push(g);
    return g;
  };
  const only = async (path: string) => {
    const [r] = await probe(ns, [path]);
    return r!;
  };

  beforeAll(async () => {
    mkdirSync(mnt);
    // Trust: every dpkg file (the probe, mount and the dynamic loader are exec'd too), the probe and
    // the guard themselves by hash (Cordon's runtime), and `tool` by the md5 of true.
    basePolicy = [
      'cordon-exec-policy 1',
      ...dpkgPolicyLines(),
      `allow-sha256 ${sha256Of(readFileSync(execProbeBinary().path))}`,
      `allow-sha256 ${sha256Of(readFileSync(execGuardBinary().path))}`,
      `# a path with a space, to prove the rest of the line is the path`,
      `md5 ${md5Of(trueBytes)} ${mnt}/with space`,
      `md5 ${md5Of(trueBytes)} ${tool}`,
      ...md5Only.map((p) => `md5 ${md5Of(md5OnlyBytes)} ${p}`),
      `md5 ${md5Of(shBytes)} ${fakeManager}`,
      `manager ${fakeManager}`,
      '',
    ].join('\n');
    writeFileSync(policyFile, basePolicy, 'latin1');
    ns = await MountNamespace.create();
    await ns.mustRun('mount', ['-t', 'tmpfs', '-o', 'size=300m,mode=0755', 'cordon-exec-guard-test', mnt]);
    copyFileSync(TRUE, ns.view(untrusted));
    appendFileSync(ns.view(untrusted), 'x');
    copyFileSync(TRUE, ns.view(toolSource));
    copyFileSync(TRUE, ns.view(`${mnt}/with space`));
    writeFileSync(ns.view(fakeManager), shBytes, { mode: 0o755 });
    writeFileSync(ns.view(tool), '');
    for (const p of md5Only) {
      writeFileSync(ns.view(p), md5OnlyBytes, { mode: 0o755 });
      writeFileSync(ns.view(`${p}-elsewhere`), ''); // a bind mount of it makes a path the policy does not list
    }
    guard = startGuard();
    const ready = await guard.ready();
    expect(ready.entries).toBeGreaterThan(1000);
    expect(ready.allowed).toBe(2);
    expect(ready.managers).toBe(1);
    expect(ready.mounts).toBeGreaterThan(0);
  });

  afterAll(async () => {
    for (const g of guards) g.kill();
    await Promise.all(guards.map((g) => g.exited));
    ns?.close();
    rmSync(host, { recursive: true, force: true });
  });

  it('lets a package-owned binary run (/usr/bin/true, trusted by its dpkg md5)', async () => {
    const dpkgLine = readFileSync('/var/lib/dpkg/info/coreutils.md5sums', 'utf8')
      .split('\n')
      .find((l) => / (usr\/)?bin\/true$/.test(l));
    expect(dpkgLine?.slice(0, 32)).toBe(md5Of(trueBytes));
    expect(await only(TRUE)).toMatchObject({ outcome: 'ok' });
    expect((await ns.run(TRUE, [])).code).toBe(0);
    // The rest of the line is the path, spaces included.
    expect(await only(`${mnt}/with space`)).toMatchObject({ outcome: 'ok' });
  });

  it('refuses a copy with one byte appended with EPERM and reports it (reason unknown)', async () => {
    const from = guard!.events.length;
    let probePid = 0;
    const [r] = await probe(ns, [untrusted], (pid) => (probePid = pid));
    expect(r!.outcome).toBe('EPERM');
    const blocked = await guard!.waitFor((e) => e.event === 'blocked' && e.path === untrusted, from);
    expect(blocked).toMatchObject({ sha256: sha256Of(untrustedBytes), reason: 'unknown', uid: 0, ppid: probePid });
    expect(blocked.pid).toEqual(expect.any(Number));
    // A real start of it fails too.
    const run = await ns.run(untrusted, []);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/Operation not permitted/);
  });

  it('judges a trusted file again once it is modified (mismatch), on a mount made after the start', async () => {
    const from = guard!.events.length;
    await ns.mustRun('mount', ['--bind', toolSource, tool]);
    // The bind mount is a new mount: the guard marks it before anything there is judged.
    await guard!.waitFor((e) => e.event === 'mounts' && (e.marked as number) >= 1, from);
    expect(await only(tool)).toMatchObject({ outcome: 'ok' });
    appendFileSync(ns.view(toolSource), 'x');
    expect(await only(tool)).toMatchObject({ outcome: 'EPERM' });
    const blocked = await guard!.waitFor((e) => e.event === 'blocked' && e.path === tool, from);
    expect(blocked).toMatchObject({ reason: 'mismatch', sha256: sha256Of(untrustedBytes) });
  });

  it('marks a new mount whose mount point has a space (mountinfo escapes it as \\040)', async () => {
    const spaced = join(mnt, 'a dir');
    mkdirSync(ns.view(spaced));
    const from = guard!.events.length;
    await ns.mustRun('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'cordon-exec-guard-spaced', spaced]);
    await guard!.waitFor((e) => e.event === 'mounts', from);
    copyFileSync(ns.view(untrusted), ns.view(join(spaced, 'untrusted')));
    expect(await only(join(spaced, 'untrusted'))).toMatchObject({ outcome: 'EPERM' });
    expect(guard!.events.slice(from).filter((e) => e.event === 'error')).toEqual([]);
  });

  it('marks a mount that replaces another at once (mount ids may be reused at once)', async () => {
    const spaced = join(mnt, 'a dir');
    await ns.mustRun('sh', ['-c', 'umount "$1" && mount -t tmpfs -o size=1m cordon-exec-guard-again "$1"', 'sh', spaced]);
    // A later mount: once it is reported, the guard has read mountinfo after the replacement.
    const from = guard!.events.length;
    const later = join(mnt, 'later');
    mkdirSync(ns.view(later));
    await ns.mustRun('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'cordon-exec-guard-later', later]);
    await guard!.waitFor((e) => e.event === 'mounts', from);
    copyFileSync(ns.view(untrusted), ns.view(join(spaced, 'untrusted')));
    expect(await only(join(spaced, 'untrusted'))).toMatchObject({ outcome: 'EPERM' });
  });

  it('writes any path as valid JSON: quotes, backslashes, control characters, bytes that are not UTF-8', async () => {
    // The probe is handed a plain symbolic link; the guard names the file it points to.
    const name = Buffer.concat([Buffer.from('odd "q" \\b\nl\t é '), Buffer.from([0xff, 0xc3]), Buffer.from(' end')]);
    const odd = Buffer.concat([Buffer.from(`${ns.view(mnt)}/`), name]);
    copyFileSync(ns.view(untrusted), odd);
    const link = join(mnt, 'odd-link');
    symlinkSync(odd.subarray(ns.view('').length), ns.view(link));
    const from = guard!.events.length;
    expect(await only(link)).toMatchObject({ outcome: 'EPERM' });
    const blocked = await guard!.waitFor((e) => e.event === 'blocked' && String(e.path).startsWith(`${mnt}/odd`), from);
    // Valid UTF-8 stays as it is; each byte that is not becomes \u00XX.
    expect(blocked.path).toBe(`${mnt}/odd "q" \\b\nl\t é \u00ff\u00c3 end`);
  });

  it('lets the modified file run once its SHA-256 is allowed (SIGHUP reloads the policy)', async () => {
    writeFileSync(`${policyFile}.next`, `${basePolicy}allow-sha256 ${sha256Of(untrustedBytes)}\n`, 'latin1');
    renameSync(`${policyFile}.next`, policyFile); // atomically, as the agent will
    const from = guard!.events.length;
    guard!.kill('SIGHUP');
    const reloaded = await guard!.waitFor((e) => e.event === 'reloaded', from);
    expect(reloaded).toMatchObject({ allowed: 3 });
    expect(reloaded.entries).toBeGreaterThan(1000);
    expect(await only(tool)).toMatchObject({ outcome: 'ok' });
    expect(await only(untrusted)).toMatchObject({ outcome: 'ok' }); // same content, other path
    // Back to the base policy for the next tests.
    writeFileSync(policyFile, basePolicy, 'latin1');
    const again = guard!.events.length;
    guard!.kill('SIGHUP');
    await guard!.waitFor((e) => e.event === 'reloaded' && e.allowed === 2, again);
    expect(await only(untrusted)).toMatchObject({ outcome: 'EPERM' });
  });

  it('trusts a file by its md5 alone, and computes its SHA-256 when another path needs it (report, allow-sha256 after SIGHUP)', async () => {
    // A path's md5 entry that matches lets the file run on its MD5 alone; the same inode reached
    // through a path the policy does not list is then judged by its SHA-256, which the cached
    // MD5-only digests lack: it must be computed then, not taken from the cache as zeros.
    const [first, second] = md5Only as [string, string];
    const bindElsewhere = async (path: string) => {
      const from = guard!.events.length;
      await ns.mustRun('mount', ['--bind', path, `${path}-elsewhere`]);
      await guard!.waitFor((e) => e.event === 'mounts' && (e.marked as number) >= 1, from);
    };
    expect(await only(first)).toMatchObject({ outcome: 'ok' });
    await bindElsewhere(first);
    const from = guard!.events.length;
    expect(await only(`${first}-elsewhere`)).toMatchObject({ outcome: 'EPERM' });
    const blocked = await guard!.waitFor((e) => e.event === 'blocked' && e.path === `${first}-elsewhere`, from);
    expect(blocked).toMatchObject({ reason: 'unknown', sha256: sha256Of(md5OnlyBytes) });

    // Cached with its MD5 only, then an allow-sha256 for its content arrives by SIGHUP.
    expect(await only(second)).toMatchObject({ outcome: 'ok' });
    await bindElsewhere(second);
    writeFileSync(policyFile, `${basePolicy}allow-sha256 ${sha256Of(md5OnlyBytes)}\n`, 'latin1');
    let at = guard!.events.length;
    guard!.kill('SIGHUP');
    await guard!.waitFor((e) => e.event === 'reloaded' && e.allowed === 3, at);
    expect(await only(`${second}-elsewhere`)).toMatchObject({ outcome: 'ok' });
    expect(await only(second)).toMatchObject({ outcome: 'ok' });
    // The decision is made again under each policy: back to the base one, it is refused again.
    writeFileSync(policyFile, basePolicy, 'latin1');
    at = guard!.events.length;
    guard!.kill('SIGHUP');
    await guard!.waitFor((e) => e.event === 'reloaded' && e.allowed === 2, at);
    expect(await only(`${second}-elsewhere`)).toMatchObject({ outcome: 'EPERM' });
    expect(await only(second)).toMatchObject({ outcome: 'ok' });
  });

  it('lets programs started by a package manager run, children and grandchildren, and reports them (not while it runs as another user)', async () => {
    // dpkg execs maintainer scripts that no md5sums lists, which may run programs just unpacked
    // before the trust list is rebuilt: under a `manager` ancestor (running as root) they start.
    const run = (cmd: string, script: string) => ns.run(cmd, ['-c', script]);
    let from = guard!.events.length;
    expect(await run(fakeManager, untrusted)).toMatchObject({ code: 0 });
    const allowed = await guard!.waitFor((e) => e.event === 'allowed' && e.path === untrusted, from);
    expect(allowed).toMatchObject({ why: 'package-manager', manager: fakeManager, sha256: sha256Of(untrustedBytes) });
    expect(guard!.events.slice(from).some((e) => e.event === 'blocked')).toBe(false);
    // A grandchild: manager → sh → the untrusted file (each of them a process of its own).
    from = guard!.events.length;
    expect(await run(fakeManager, `/bin/sh -c '${untrusted}; exit $?'; exit $?`)).toMatchObject({ code: 0 });
    await guard!.waitFor((e) => e.event === 'allowed' && e.path === untrusted, from);
    // Not cached as trust: the same file started by the trusted shell, not under the manager, is refused.
    from = guard!.events.length;
    const outside = await run('/bin/sh', `${untrusted}; exit $?`);
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toMatch(/Permission denied|Operation not permitted/);
    expect(await guard!.waitFor((e) => e.event === 'blocked' && e.path === untrusted, from)).toMatchObject({ reason: 'unknown' });
    expect(await only(untrusted)).toMatchObject({ outcome: 'EPERM' });
    // A manager that is not root cannot install anything: no allowance (dpkg run by a user could
    // be made to exec a program of the user's, through PATH).
    chmodSync(host, 0o755); // so that nobody reaches the tmpfs
    try {
      from = guard!.events.length;
      const asNobody = await ns.run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', fakeManager, '-c', `${untrusted}; exit $?`]);
      expect(asNobody.code).not.toBe(0);
      expect(await guard!.waitFor((e) => e.event === 'blocked' && e.path === untrusted, from)).toMatchObject({ uid: 65534 });
    } finally {
      chmodSync(host, 0o700);
    }
    // dpkg upgrading itself replaces its own program: the running one's exe reads "… (deleted)".
    try {
      from = guard!.events.length;
      expect(await run(fakeManager, `rm ${fakeManager}; ${untrusted}; exit $?`)).toMatchObject({ code: 0 });
      await guard!.waitFor((e) => e.event === 'allowed' && e.path === untrusted && e.manager === fakeManager, from);
    } finally {
      writeFileSync(ns.view(fakeManager), shBytes, { mode: 0o755 });
    }
  });

  it('rate-limits its allowed lines and counts the ones held back', async () => {
    // 100 starts under the manager, far faster than 10 a second: at most 10 lines a second, the
    // rest counted on the next line (or on a line of their own once a second has passed).
    const from = guard!.events.length;
    expect(await ns.run(fakeManager, ['-c', `for i in $(seq 100); do ${untrusted} || exit 1; done`])).toMatchObject({ code: 0 });
    const lines = () => guard!.events.slice(from).filter((e) => e.event === 'allowed');
    const unreported = () => lines().reduce((sum, e) => sum + ((e.unreported as number | undefined) ?? 0), 0);
    const withPath = () => lines().filter((e) => e.path === untrusted).length;
    await guard!.waitFor(() => withPath() + unreported() >= 100, from, 5000);
    expect(withPath() + unreported()).toBe(100);
    expect(withPath()).toBeLessThan(100);
    expect(lines().every((e) => e.why === 'package-manager')).toBe(true);
  });

  it('never affects the host: the untrusted copy runs there while the guard runs', async () => {
    const onHost = join(host, 'untrusted-on-host');
    writeFileSync(onHost, untrustedBytes, { mode: 0o755 });
    expect(execFileSync(onHost, [], { stdio: 'pipe' }).length).toBe(0); // exit 0, or it throws
    expect((await probe(null, [onHost]))[0]).toMatchObject({ outcome: 'ok' });
    expect(await only(untrusted)).toMatchObject({ outcome: 'EPERM' }); // still refused inside
  });

  it('keeps the old policy when a reloaded file is bad, and reports the error', async () => {
    writeFileSync(policyFile, 'cordon-exec-policy 1\nmd5 nothex /usr/bin/true\n');
    const from = guard!.events.length;
    guard!.kill('SIGHUP');
    const error = await guard!.waitFor((e) => e.event === 'error', from);
    expect(error.message).toMatch(/line 2: expected .*previous policy stays/);
    expect(await only(TRUE)).toMatchObject({ outcome: 'ok' });
    expect(await only(untrusted)).toMatchObject({ outcome: 'EPERM' });
    writeFileSync(policyFile, basePolicy, 'latin1');
  });

  it('refuses to start on a bad policy file, with a clear message', async () => {
    const bad = join(host, 'bad-policy');
    writeFileSync(bad, 'cordon-exec-policy 2\n');
    const g = startGuard(bad);
    expect(await g.exited).toEqual({ code: 1, signal: null });
    expect(g.stderr).toMatch(/^cordon-exec-guard: policy .*bad-policy line 1: expected the header "cordon-exec-policy 1"\n$/);
    const missing = startGuard(join(host, 'no-such-policy'));
    expect(await missing.exited).toEqual({ code: 1, signal: null });
    expect(missing.stderr).toMatch(/no-such-policy: No such file or directory/);
    expect(g.events).toEqual([]);
  });

  it('answers at once while nobody reads its output, and reports what it dropped', async () => {
    // Long paths make long lines, so the pipe, Node's buffer and the guard's own fill fast.
    const deep = join(mnt, ...Array.from({ length: 12 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(200)}`));
    mkdirSync(ns.view(deep), { recursive: true });
    const flood = join(deep, 'untrusted');
    copyFileSync(ns.view(untrusted), ns.view(flood));
    const from = guard!.events.length;
    guard!.child.stdout!.pause();
    const results = await probe(ns, Array.from({ length: 400 }, () => flood));
    expect(results.every((r) => r.outcome === 'EPERM')).toBe(true);
    // Each answer is a cache hit; a guard waiting on the pipe would never answer at all.
    expect(Math.max(...results.map((r) => r.micros))).toBeLessThan(1_000_000);
    guard!.child.stdout!.resume();
    // The next line that fits carries the count of those dropped (a try made before the guard
    // could write again is dropped and counted too, so try until one is seen).
    const late = join(mnt, 'late');
    copyFileSync(ns.view(untrusted), ns.view(late));
    let tries = 0;
    let seenLate;
    while (!seenLate && tries < 20) {
      tries++;
      expect(await only(late)).toMatchObject({ outcome: 'EPERM' });
      seenLate = await guard!.waitFor((e) => e.event === 'blocked' && e.path === late, from, 1000).catch(() => undefined);
    }
    const since = guard!.events.slice(from);
    const dropped = since.reduce((sum, e) => sum + ((e.dropped as number | undefined) ?? 0), 0);
    expect(dropped).toBeGreaterThan(0);
    const seen = since.filter((e) => e.event === 'blocked' && (e.path === flood || e.path === late)).length;
    expect(seen + dropped).toBe(400 + tries);
  });

  it('lets everything run at once when the guard is SIGKILLed', async () => {
    expect(await only(untrusted)).toMatchObject({ outcome: 'EPERM' });
    guard!.kill('SIGKILL');
    expect(await guard!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const r = await only(untrusted);
    expect(r.outcome).toBe('ok');
    expect(r.micros).toBeLessThan(1_000_000);
  });

  it('refuses a file whose hashing outlasts the deadline, without caching that', async () => {
    // 256 MB take over 500 ms to hash, the probe and the dynamic loader about 1 ms (a wide margin
    // on a loaded machine); the kernel still execs it (the ELF headers are intact). The only guard
    // running (the first one was killed), since the kernel stops asking guards at the first refusal.
    const big = join(mnt, 'big');
    const fd = openSync(ns.view(big), 'w', 0o755);
    writeSync(fd, trueBytes);
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 256; i++) writeSync(fd, zeros);
    closeSync(fd);
    const hasty = startGuard(policyFile, ['--no-warm', '--deadline-ms', '200']);
    try {
      await hasty.ready();
      for (let i = 0; i < 2; i++) {
        const from = hasty.events.length;
        expect(await only(big)).toMatchObject({ outcome: 'EPERM' });
        // The second try is judged afresh: cached digests would have made it "unknown".
        expect(await hasty.waitFor((e) => e.event === 'blocked' && e.path === big, from)).toMatchObject({ reason: 'deadline', sha256: '' });
      }
      hasty.kill('SIGTERM');
      expect(await hasty.exited).toEqual({ code: 0, signal: null });
    } finally {
      hasty.kill();
      rmSync(ns.view(big));
    }
  });

  it('exits when its stdin reaches EOF (the agent is gone), and nothing stays blocked', async () => {
    const g = startGuard();
    await g.ready();
    expect(await only(untrusted)).toMatchObject({ outcome: 'EPERM' });
    g.endInput();
    expect(await g.exited).toEqual({ code: 0, signal: null });
    expect(await only(untrusted)).toMatchObject({ outcome: 'ok' });
  });

  it('warms up after ready: hashes the executable files of the policy in slices, answers starts meanwhile, keeps its cache across SIGHUP', async () => {
    // The guard of the tests above ran with --no-warm; the one here is the only guard running.
    expect(guards[0]!.events.some((e) => e.event === 'warmed')).toBe(false);
    const dir = join(mnt, 'warm');
    mkdirSync(ns.view(dir));
    const [big, a, b, plain] = ['big', 'a', 'b', 'not-executable'].map((n) => join(dir, n)) as [string, string, string, string];
    // 256 MB, first in the policy: a warm-up that hashed it in one go would hold up the start below
    // for hundreds of milliseconds and emit `warmed` before answering it.
    const fd = openSync(ns.view(big), 'w', 0o755);
    writeSync(fd, trueBytes);
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 256; i++) writeSync(fd, zeros);
    closeSync(fd);
    writeFileSync(ns.view(a), trueBytes, { mode: 0o755 });
    writeFileSync(ns.view(b), trueBytes, { mode: 0o755 });
    writeFileSync(ns.view(plain), trueBytes, { mode: 0o644 }); // no exec bit: not warmed
    // The probe runs by its hash, with the dynamic loader's dpkg entry; big's entry is not its md5
    // (it is never run, only warmed).
    const loader = dpkgPolicyLines().filter((l) => /\/ld-linux[^/]*$/.test(l));
    const mine = [big, a, b, plain, join(dir, 'missing')].map((p) => `md5 ${md5Of(trueBytes)} ${p}`);
    const paths = [...loader, ...mine].map((l) => l.slice(37));
    const warmPolicy = join(host, 'warm-policy');
    writeFileSync(warmPolicy, ['cordon-exec-policy 1', `allow-sha256 ${sha256Of(readFileSync(execProbeBinary().path))}`, ...mine, ...loader, ''].join('\n'), 'latin1');
    // What the warm-up must visit: regular files with an exec bit, each inode once.
    const inodes = new Set<string>();
    let bytes = 0;
    for (const p of paths) {
      const st = existsSync(ns.view(p)) ? lstatSync(ns.view(p)) : null;
      if (!st?.isFile() || (st.mode & 0o111) === 0 || inodes.has(`${st.dev}:${st.ino}`)) continue;
      inodes.add(`${st.dev}:${st.ino}`);
      bytes += st.size;
    }
    expect(inodes.size).toBe(4); // big, a, b and the dynamic loader

    const warm = Guard.start(ns, warmPolicy);
    guards.push(warm);
    try {
      await warm.ready();
      expect(await only(a)).toMatchObject({ outcome: 'ok' });
      expect(warm.events.some((e) => e.event === 'warmed')).toBe(false);
      const warmed = await warm.waitFor((e) => e.event === 'warmed', 0, 30_000);
      // Files the start above had already hashed count as cached.
      expect((warmed.files as number) + (warmed.cached as number)).toBe(inodes.size);
      expect(warmed.bytes).toBeGreaterThanOrEqual(256 * 1024 * 1024);
      expect(warmed.bytes).toBeLessThanOrEqual(bytes);
      expect(warmed.ms).toEqual(expect.any(Number));

      // A reload starts the warm-up again, and the cache outlives it: nothing is hashed twice.
      let from = warm.events.length;
      warm.kill('SIGHUP');
      expect(await warm.waitFor((e) => e.event === 'warmed', from, 30_000)).toMatchObject({ files: 0, bytes: 0, cached: inodes.size });
      expect(warm.events.slice(from).map((e) => e.event)).toEqual(['reloaded', 'warmed']);

      // A file modified after its warm-up is hashed again, and judged on its new content.
      appendFileSync(ns.view(b), 'x');
      from = warm.events.length;
      warm.kill('SIGHUP');
      expect(await warm.waitFor((e) => e.event === 'warmed', from, 30_000)).toMatchObject({ files: 1, bytes: trueBytes.length + 1, cached: inodes.size - 1 });
      from = warm.events.length;
      expect(await only(b)).toMatchObject({ outcome: 'EPERM' });
      expect(await warm.waitFor((e) => e.event === 'blocked' && e.path === b, from)).toMatchObject({ reason: 'mismatch', sha256: sha256Of(untrustedBytes) });
      expect(await only(a)).toMatchObject({ outcome: 'ok' });
    } finally {
      warm.kill();
      await warm.exited;
      rmSync(ns.view(dir), { recursive: true, force: true });
    }
  });
});
