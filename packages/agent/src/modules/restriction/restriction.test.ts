/**
 * The restriction module against the real kernel and the real guard, driven from this test process:
 * the module starts the guard through nsenter into a private mount namespace (its `guardCommand`),
 * with a tmpfs of its own, so only that namespace's copies of the mounts are ever guarded and the
 * host is never restricted (checked below). The module's code (journal, trust list, supervisor,
 * events) is the production code; only where the guard runs differs.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AgentDetection, ContentManifest, IndicatorEntry } from '@cordon/protocol';
import { RESTRICTION_NOT_COVERED } from '@cordon/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionContext } from '../../actions/types.js';
import { probeExecutionControl, restrictCodeExecution } from '../../actions/restrict-code-execution/index.js';
import { unrestrictCodeExecution } from '../../actions/unrestrict-code-execution/index.js';
import { IndicatorSet } from '../../content/indicators.js';
import { execGuardBinary, execProbeBinary } from '../../platform/linux/exec-guard-binary.js';
import { md5Of, MountNamespace, probe, sha256Of } from '../../platform/linux/exec-guard-testbed.js';
import type { AgentModules } from '../index.js';
import { RestrictionManager, type RestrictionDeps } from './manager.js';
import { readRestrictionOrFailClosed } from './state.js';

const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const skip =
  process.getuid?.() !== 0
    ? 'needs root (fanotify permission events, mount namespaces)'
    : !execGuardBinary().exists || !execProbeBinary().exists
      ? 'packages/agent/native/build/ has no cordon-exec-guard or exec-probe (run node scripts/build.mjs; needs cc and libssl-dev)'
      : !has('unshare') || !has('nsenter')
        ? 'needs unshare and nsenter (util-linux)'
        : !existsSync('/var/lib/dpkg/info/coreutils.md5sums')
          ? 'needs dpkg (the trust list is made from its md5sums)'
          : '';

const allowed = (sha256: string): IndicatorEntry => ({ id: sha256.slice(0, 8), value: sha256, type: 'FileSha256', action: 'Allowed', severity: 'Informational', title: 'allowed', generateAlert: false, expirationTime: null });

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(skip)(skip ? `restriction module (skipped: ${skip})` : 'restriction module', () => {
  const TRUE = '/usr/bin/true';
  const trueBytes = existsSync(TRUE) ? readFileSync(TRUE) : Buffer.alloc(0);
  const untrustedBytes = Buffer.concat([trueBytes, Buffer.from('x')]);
  const untrustedSha = sha256Of(untrustedBytes);
  const probeSha = execProbeBinary().exists ? sha256Of(readFileSync(execProbeBinary().path)) : '';
  const host = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-restriction-')));
  const mnt = join(host, 'mnt');
  const copy = join(mnt, 'untrusted'); // on the namespace's tmpfs
  const hostCopy = join(host, 'untrusted-on-host'); // the same bytes, where the host runs it
  const dataDir = join(host, 'data');
  let ns: MountNamespace;
  let installed: IndicatorEntry[] = [];
  let version = 0;
  const indicators = new IndicatorSet({ load: () => ({ manifest: { version } as ContentManifest, bytes: Buffer.from(JSON.stringify({ format: 'cordon-indicators/v1', indicators: installed })) }) });
  const events: { kind: string; data: AgentDetection }[] = [];
  const notices: string[] = [];
  const managers: RestrictionManager[] = [];
  /** The guard states the manager under test told of on its own (between watchdog checks). */
  const told: (string | null)[] = [];

  const deps = (over: Partial<RestrictionDeps> = {}): RestrictionDeps => ({
    dataDir,
    platform: { notifyUsers: async (_title, message) => (notices.push(message), { wall: 'sent', desktop: [] }) },
    indicators,
    reportEvent: (kind, data) => events.push({ kind, data }),
    logger: pino({ level: 'silent' }),
    // Never the host: nsenterArgs refuses a holder that is in the host's mount namespace.
    guardCommand: (bin, args) => ['nsenter', ns.nsenterArgs(bin, args)],
    restartDelaysMs: [1500],
    reportChanged: () => told.push(m?.status().guard ?? null),
    ...over,
  });
  const manager = (over: Partial<RestrictionDeps> = {}) => {
    const m = new RestrictionManager(deps(over));
    managers.push(m);
    return m;
  };
  const install = (entries: IndicatorEntry[]) => {
    installed = entries;
    version++; // a new version: what the content sync installs, and what onChange is told of
    indicators.reload();
  };
  const outcome = async (path: string, where: MountNamespace | null = ns) => (await probe(where, [path]))[0]!.outcome;
  const ctxOf = (m: RestrictionManager, sent: string[]): ActionContext =>
    ({ actionId: 'act-1', progress: () => undefined, sendInventory: async () => void sent.push('inventory'), modules: { restriction: m } as unknown as AgentModules }) as unknown as ActionContext;

  let m: RestrictionManager;

  beforeAll(async () => {
    ns = await MountNamespace.create();
    spawnSync('mkdir', ['-p', mnt, dataDir]);
    await ns.mustRun('mount', ['-t', 'tmpfs', '-o', 'size=50m,mode=0755', 'cordon-restriction-test', mnt]);
    writeFileSync(ns.view(copy), untrustedBytes, { mode: 0o755 });
    copyFileSync(TRUE, hostCopy);
    appendFileSync(hostCopy, 'x');
    // The probe that execs test programs is not a package file: trusted by an Allowed indicator.
    install([allowed(probeSha)]);
    m = manager();
  });

  afterAll(async () => {
    for (const x of managers) await x.stop().catch(() => undefined);
    ns?.close();
    rmSync(host, { recursive: true, force: true });
  });

  it('the kernel supports it (exec-guard --check, run in the namespace)', async () => {
    expect((await ns.run(execGuardBinary().path, ['--check'])).code).toBe(0);
    expect(await probeExecutionControl(execGuardBinary(), 1000)).toEqual({ unavailable: expect.stringMatching(/not run as root/) });
    expect(await probeExecutionControl({ path: '/nowhere/cordon-exec-guard', exists: false }, 0)).toEqual({ unavailable: expect.stringMatching(/not built .*node scripts\/build\.mjs/) });
  });

  it('asks the kernel once: every inventory reports the capability, and a yes does not change while the agent runs', async () => {
    const runs = join(host, 'check-runs');
    const fake = join(host, 'fake-guard');
    writeFileSync(fake, `#!/bin/sh\necho "$@" >> ${runs}\n`, { mode: 0o755 });
    for (let i = 0; i < 3; i++) expect(await probeExecutionControl({ path: fake, exists: true }, 0)).toEqual({ provider: 'fanotify exec guard' });
    expect(readFileSync(runs, 'utf8')).toBe('--check\n');
    // A no is asked again (a check killed on a loaded machine must not make it unavailable for good).
    const refusing = join(host, 'refusing-guard');
    writeFileSync(refusing, `#!/bin/sh\necho "$@" >> ${runs}\necho 'no fanotify' >&2\nexit 1\n`, { mode: 0o755 });
    for (let i = 0; i < 2; i++) expect(await probeExecutionControl({ path: refusing, exists: true }, 0)).toEqual({ unavailable: 'This kernel cannot check program starts: no fanotify' });
    expect(readFileSync(runs, 'utf8')).toBe('--check\n--check\n--check\n');
  });

  it('fails, restricting nothing, when no package database can be read or the guard does not start', async () => {
    const noDb = manager({ trustSources: { dpkgInfoDir: join(host, 'no-dpkg'), rpmLines: async () => null } });
    await expect(noDb.restrict('x')).rejects.toThrow(/No package database could be read.*nothing was restricted/);
    expect(readRestrictionOrFailClosed(dataDir).state).toBe('Unrestricted');
    const broken = manager({ guardCommand: (_bin, _args) => ['nsenter', ns.nsenterArgs('/bin/false', [])] });
    await expect(broken.restrict('x')).rejects.toThrow(/Rolled back: the exec guard did not become ready: it stopped \(exit 1\)/);
    expect(readRestrictionOrFailClosed(dataDir).state).toBe('Unrestricted');
    expect(broken.report().restriction).toMatchObject({ state: 'Unrestricted', guard: null });
    expect(await outcome(copy)).toBe('ok');
  });

  it('restricts: package binaries run, a one-byte-changed copy fails with EPERM and is reported', async () => {
    const sent: string[] = [];
    const result = await restrictCodeExecution.run({}, ctxOf(m, sent));
    expect(sent).toEqual(['inventory']);
    expect(result).toMatchObject({ restriction: { state: 'Restricted', guard: 'running', error: null }, notCovered: RESTRICTION_NOT_COVERED });
    const trusted = (result as { trusted: { packageFiles: number; allowedHashes: number; allowIndicators: number; packageManagers: string[] } }).trusted;
    expect(trusted.packageFiles).toBeGreaterThan(1000);
    expect(trusted.allowIndicators).toBe(1);
    expect(trusted.packageManagers).toContain('/usr/bin/dpkg');
    expect(m.report().restriction).toMatchObject({ state: 'Restricted', guard: 'running', trusted: { packageFiles: trusted.packageFiles, allowedHashes: trusted.allowedHashes } });
    expect(notices.at(-1)).toMatch(/now restricted/);

    expect(await outcome(TRUE)).toBe('ok');
    expect(await outcome(copy)).toBe('EPERM');
    await until('a blockedExecution event', () => events.length > 0);
    const [ev] = events;
    expect(ev!.kind).toBe('blockedExecution');
    expect(ev!.data).toMatchObject({ title: 'Blocked an untrusted program: untrusted', severity: 'Low', category: 'Execution', detectionSource: 'ExecutionControl' });
    const [file, proc] = ev!.data.evidence!;
    expect(file).toEqual({ entityType: 'File', filePath: copy, fileName: 'untrusted', sha256: untrustedSha, detectionStatus: 'Blocked' });
    expect(proc).toMatchObject({ entityType: 'Process', accountName: 'root', parentProcessFilePath: execProbeBinary().path });
    expect(proc!.processId).toBeGreaterThan(0);
    expect(proc!.parentProcessId).toBeGreaterThan(0);
    await until('the users told', () => notices.some((n) => n.includes('"untrusted" was not allowed to start')));

    // Repeats within ten minutes raise no second alert, and the users hear once a minute at most.
    const told = notices.length;
    expect(await outcome(copy)).toBe('EPERM');
    await new Promise((r) => setTimeout(r, 200));
    expect(events).toHaveLength(1);
    expect(notices).toHaveLength(told);

    // The host is never affected: the same bytes run there.
    expect(await outcome(hostCopy, null)).toBe('ok');
    expect(await outcome(hostCopy)).toBe('EPERM');
  });

  it('is idempotent: restricting again keeps the start time', async () => {
    const since = m.status().since;
    await m.restrict('act-2');
    expect(m.status()).toMatchObject({ state: 'Restricted', since, guard: 'running' });
  });

  it('lets a program run once an Allowed indicator names its SHA-256, and not after it is gone', async () => {
    install([allowed(probeSha), allowed(untrustedSha)]);
    await m.check(); // queued after the reload the new indicators started
    expect(await outcome(copy)).toBe('ok');
    expect(m.status().trusted?.allowedHashes).toBe(4); // probe, the copy, node, the guard
    install([allowed(probeSha)]);
    await m.check();
    expect(await outcome(copy)).toBe('EPERM');
  });

  it('a killed guard blocks nothing, is reported, and comes back (backoff and watchdog)', async () => {
    const first = m.guardPid!;
    process.kill(first, 'SIGKILL');
    await until('the guard reported restarting', () => m.status().guard === 'restarting');
    expect(m.status().error).toMatch(/the exec guard stopped \(killed by SIGKILL\)/);
    expect(await outcome(copy)).toBe('ok');
    expect(await m.check()).toBe(true); // the report changed: the agent tells the server
    // check() itself restarts a guard that is down (here sooner than the 1.5 s backoff).
    await until('the guard running again', () => m.status().guard === 'running', 15_000);
    expect(m.guardPid).not.toBe(first);
    // Kept as the last problem while the guard runs again: when it stopped, and nothing now untrue.
    expect(m.status().error).toMatch(/^the exec guard stopped \(killed by SIGKILL\) at \S+Z$/);
    expect(await outcome(copy)).toBe('EPERM');

    // Without the watchdog: the backoff brings it back.
    const second = m.guardPid!;
    told.length = 0;
    process.kill(second, 'SIGKILL');
    await until('the guard reported restarting', () => m.status().guard === 'restarting');
    await until('the guard restarted by backoff', () => m.status().guard === 'running' && m.guardPid !== second, 15_000);
    // The gap and the return are told at once (the agent sends its inventory), not left to the watchdog.
    expect(told).toEqual(['restarting', 'running']);
    expect(await outcome(copy)).toBe('EPERM');
    // Back before the watchdog looked, and the same way as the first time: the agent must still tell
    // the server of this second gap (its error names when the guard stopped).
    expect(await m.check()).toBe(true);
  });

  it('stops with the agent (nothing blocked while stopped) and is re-applied by a new instance from the journal', async () => {
    await m.stop();
    expect(m.guardPid).toBeNull();
    expect(readRestrictionOrFailClosed(dataDir).state).toBe('Restricted');
    expect(await outcome(copy)).toBe('ok');
    m = manager();
    expect(m.report().restriction).toMatchObject({ state: 'Restricted', guard: 'restarting' });
    await m.restore();
    expect(m.status()).toMatchObject({ state: 'Restricted', guard: 'running' });
    expect(await outcome(copy)).toBe('EPERM');
  });

  it('a damaged journal restores as restricted (fail closed)', async () => {
    await m.stop();
    writeFileSync(join(dataDir, 'restriction.json'), '{ damaged');
    m = manager();
    await m.restore();
    expect(m.status()).toMatchObject({ state: 'Restricted', since: null, guard: 'running' });
    expect(await outcome(copy)).toBe('EPERM');
  });

  it('unrestricts (idempotent): the copy runs again', async () => {
    const sent: string[] = [];
    expect(await unrestrictCodeExecution.run({}, ctxOf(m, sent))).toMatchObject({ wasRestricted: true, restriction: { state: 'Unrestricted', guard: null, trusted: null } });
    expect(sent).toEqual(['inventory']);
    expect(m.guardPid).toBeNull();
    expect(await outcome(copy)).toBe('ok');
    expect(await m.unrestrict()).toMatchObject({ wasRestricted: false });
    expect(await m.check()).toBe(true);
    expect(readRestrictionOrFailClosed(dataDir).state).toBe('Unrestricted');
  });

  it('takes a package install into the trust list on its own (an upgrade must not lock the device)', async () => {
    // A package database of its own: one unrelated file, then a "package" that installs the copy.
    const info = join(host, 'dpkg-info');
    spawnSync('mkdir', ['-p', info]);
    writeFileSync(join(info, 'base.md5sums'), `${'0'.repeat(32)}  usr/bin/unrelated\n`);
    // libc6's files: the dynamic loader is exec-checked too when the (trusted) probe starts.
    for (const f of readdirSync('/var/lib/dpkg/info').filter((n) => /^libc6(:[a-z0-9]+)?\.md5sums$/.test(n))) copyFileSync(join('/var/lib/dpkg/info', f), join(info, f));
    const logs: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
    const pm = manager({ trustSources: { dpkgInfoDir: info, rpmLines: async () => null }, packageWatch: [info], logger });
    const before = (await pm.restrict('act-3')).trusted.packageFiles;
    // The guard's warm-up of the trusted executables (here libc6's) is logged when it is done.
    await until('the warm-up logged', () => logs.some((l) => l.msg === 'exec guard warm-up done'));
    expect(logs.find((l) => l.msg === 'exec guard warm-up done')).toMatchObject({ level: 30, files: expect.any(Number), bytes: expect.any(Number), cached: expect.any(Number), ms: expect.any(Number) });
    expect(await outcome(copy)).toBe('EPERM');
    writeFileSync(join(info, 'copy.md5sums'), `${md5Of(untrustedBytes)}  ${copy.slice(1)}\n`);
    // fs.watch notices, and the guard reloads once the writes pause (no watchdog call here).
    await until('the copy trusted after the install', async () => (await outcome(copy)) === 'ok', 15_000);
    expect(pm.status().trusted?.packageFiles).toBe(before + 1);
    // The watchdog notices a change too (the package removed).
    rmSync(join(info, 'copy.md5sums'));
    await pm.check();
    expect(await outcome(copy)).toBe('EPERM');
    await pm.unrestrict();
    expect(await outcome(copy)).toBe('ok');
  });

  it('lets what the package manager starts run (maintainer scripts, programs just unpacked), and logs it', async () => {
    // A "dpkg" of the fixture database: a copy of the shell on the tmpfs, listed by a package.
    const info = join(host, 'dpkg-info-manager');
    spawnSync('mkdir', ['-p', info]);
    for (const f of readdirSync('/var/lib/dpkg/info').filter((n) => /^libc6(:[a-z0-9]+)?\.md5sums$/.test(n))) copyFileSync(join('/var/lib/dpkg/info', f), join(info, f));
    const sh = readFileSync(realpathSync('/bin/sh'));
    const fakeDpkg = join(mnt, 'fake-dpkg');
    writeFileSync(ns.view(fakeDpkg), sh, { mode: 0o755 });
    writeFileSync(fakeDpkg, sh, { mode: 0o755 }); // under the tmpfs, for the module, which runs on the host and only lists managers that exist
    writeFileSync(join(info, 'fake-dpkg.md5sums'), `${md5Of(sh)}  ${fakeDpkg.slice(1)}\n`);
    const logs: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
    const pm = manager({ trustSources: { dpkgInfoDir: info, rpmLines: async () => null, managerPaths: [fakeDpkg] }, packageWatch: [info], logger });
    try {
      expect((await pm.restrict('act-4')).trusted.packageManagers).toEqual([fakeDpkg]);
      expect(readFileSync(join(dataDir, 'restriction', 'policy'), 'latin1').split('\n')).toContain(`manager ${fakeDpkg}`);
      expect(await outcome(copy)).toBe('EPERM');
      expect((await ns.run(fakeDpkg, ['-c', copy])).code).toBe(0);
      await until('the allowed start logged', () => logs.some((l) => l.msg === 'allowed a program the package manager started'));
      expect(logs.find((l) => l.msg === 'allowed a program the package manager started')).toMatchObject({ level: 30, manager: fakeDpkg, path: copy, sha256: untrustedSha });
      expect(await outcome(copy)).toBe('EPERM'); // not trusted by it
    } finally {
      await pm.unrestrict();
    }
  });
});
