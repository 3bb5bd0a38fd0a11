import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CordonClient } from '@cordon/cli/client';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CORDON = join(ROOT, 'packages', 'cli', 'bin', 'cordon.mjs');

/** A port that was free a moment ago (the kernel picks it), for processes that must keep theirs across restarts. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `cordon-e2e-${prefix}-`));
}

/**
 * Agent settings that make investigation packages walk two fresh temp dirs (pushed to `dirs` for
 * clean-up) instead of the host's /tmp, /root and /home, which other test files write to meanwhile.
 */
export function ownWalkRoots(dirs: string[]): Record<string, string> {
  const temp = tempDir('walk-temp');
  const programs = tempDir('walk-programs');
  dirs.push(temp, programs);
  return { CORDON_AGENT_PACKAGE_TEMP_DIRS: temp, CORDON_AGENT_PACKAGE_PROGRAM_DIRS: programs };
}

/** A running `cordon …` process, with its output kept for assertions and debugging. */
export class CordonProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  /** `launcher`: a program (and its arguments) that runs cordon with `args` in its place, e.g. in a namespace. */
  constructor(args: string[], env: Record<string, string> = {}, launcher: [string, string[]] = [process.execPath, [CORDON]]) {
    this.child = spawn(launcher[0], [...launcher[1], ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  /** Waits for a line of stdout matching `re`; answers its first capture group (the deadline is generous: a loaded CI machine starts a server slowly). */
  async line(re: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.stdout);
      if (m) return m[1] ?? m[0];
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`no ${re} in output.\nstdout: ${this.stdout}\nstderr: ${this.stderr.slice(-3000)}`);
      await sleep(50);
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/** Runs `cordon …` to completion. */
export async function cordon(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new CordonProcess(args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

export function cleanup(dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** A real program the end-to-end tests run, and the Debian package that brings it. */
export interface RealComponent {
  /** What it is and what needs it, for the error message. */
  what: string;
  /** Where it may be: the first that exists is used. */
  paths: readonly string[];
  debianPackage: string;
}

/** Everything real the e2e tests use that Node does not bring; `.ci/run` installs each package. */
export const REAL = {
  chromium: { what: "Debian's chromium (the browser tests drive it with playwright-core)", paths: ['/usr/bin/chromium'], debianPackage: 'chromium' },
  nft: { what: 'nft (nftables: the isolation tests enforce real rules in network namespaces)', paths: ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'], debianPackage: 'nftables' },
  ip: { what: 'ip (iproute2: the network test bed)', paths: ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'], debianPackage: 'iproute2' },
  /** For the PostgreSQL tests to come (testing.md: Debian's postgresql 15, initdb/pg_ctl as the postgres user). */
  postgresql: { what: 'PostgreSQL 15 (initdb and pg_ctl: the repository tests against real PostgreSQL)', paths: ['/usr/lib/postgresql/15/bin/initdb'], debianPackage: 'postgresql' },
} as const satisfies Record<string, RealComponent>;

/**
 * The path of a real component, or an error naming the package to install. Tests that need one
 * call this (in a `beforeAll`) and fail when it is missing — never skip: a green run must mean
 * they ran. `.ci/run` installs every package in {@link REAL} before running the suite.
 */
export function requireReal(c: RealComponent): string {
  const found = c.paths.find((p) => existsSync(p));
  if (found) return found;
  throw new Error(`${c.what} is missing (looked for ${c.paths.join(', ')}): install it with \`apt-get install ${c.debianPackage}\`, or run the suite with .ci/run, which installs everything the tests need. Tests that need real components fail rather than skip.`);
}

/** A console test's `cordon server` on free loopback ports: its API as admin, the admin's password and an enrollment token. */
export async function startConsoleServer(tag: string, dirs: string[]): Promise<{ server: CordonProcess; serverDir: string; base: string; api: CordonClient; adminPassword: string; agentUrl: string; enrollment: string }> {
  const serverDir = tempDir(tag);
  dirs.push(serverDir);
  const port = await freePort();
  const agentPort = await freePort();
  const server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn' });
  try {
    const token = await server.line(/^admin token: (\S+)$/m, 60_000);
    const adminPassword = await server.line(/^admin password: (\S+)/m);
    const base = `http://127.0.0.1:${port}`;
    const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
    return { server, serverDir, base, api: new CordonClient(base, token), adminPassword, agentUrl: `https://127.0.0.1:${agentPort}`, enrollment };
  } catch (e) {
    // The caller gets no server to kill.
    await server.kill('SIGKILL');
    throw e;
  }
}
