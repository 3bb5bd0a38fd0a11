/**
 * A small harness for browser tests: Debian's chromium driven by playwright-core (never a
 * downloaded browser), pages that record what went wrong on them, and screenshots kept as
 * artifacts under e2e/.artifacts/screenshots/ (git-ignored).
 *
 *   const browser = await launchBrowser();
 *   const t = await newPage(browser, { baseURL: 'http://127.0.0.1:1234' });
 *   await t.page.goto('/devices');
 *   await screenshot(t.page, 'devices');
 *   expect(t.problems()).toEqual([]);
 *   await browser.close();
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { CordonClient, Machine } from '@cordon/cli/client';
import { cleanup, cordon, CordonProcess, REAL, requireReal, ROOT, sleep, startConsoleServer, tempDir, until } from './helpers.js';

/** Where Debian's package puts its launcher (a shell wrapper around /usr/lib/chromium/chromium). */
export const CHROMIUM = REAL.chromium.paths[0];
export const SCREENSHOTS = join(ROOT, 'e2e', '.artifacts', 'screenshots');

/**
 * Headless, no sandbox (root in a container), nothing fetched from the network. Playwright adds a fresh `--user-data-dir` (a temp profile) to
 * every launch and removes it on close, so no state carries over between runs.
 */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** For the benchmark, which may run without its browser part; tests use `requireReal(REAL.chromium)` and fail. */
export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** Launches headless chromium (failing with the package to install when it is missing); close it in an `afterAll`/`finally`. */
export async function launchBrowser(opts: { slowMo?: number } = {}): Promise<Browser> {
  return chromium.launch({ executablePath: requireReal(REAL.chromium), headless: true, chromiumSandbox: false, args: CHROMIUM_FLAGS, slowMo: opts.slowMo });
}

/** A Content-Security-Policy violation, from the page's `securitypolicyviolation` event or a console message. */
export interface CspViolation {
  source: 'event' | 'console';
  /** e.g. `script-src-elem` (events only). */
  directive: string | null;
  /** What was blocked: a URL, or `inline` / `eval` (events only). */
  blockedURI: string | null;
  /** Where it happened (events only). */
  sourceFile: string | null;
  line: number | null;
  /** The console text, or a summary of the event. */
  message: string;
}

export interface TestPage {
  page: Page;
  /** The page's own context: its cookie jar is not shared with any other TestPage. */
  context: BrowserContext;
  /** `console.error` messages and browser-logged errors (failed loads...), CSP messages excepted. */
  consoleErrors: string[];
  /** Uncaught exceptions and unhandled rejections in the page. */
  pageErrors: string[];
  /** Each violation is usually reported twice: once as an event and once on the console. */
  cspViolations: CspViolation[];
  /** Everything above as one list of lines: `expect(t.problems()).toEqual([])`. */
  problems(): string[];
  close(): Promise<void>;
}

// Chromium words CSP console messages as "Refused to load/execute/apply …" or, since ~2024,
// "Executing inline script violates the following Content Security Policy directive …".
const CSP_CONSOLE = /^Refused to |Content Security Policy/;

/**
 * A new page in a fresh browser context (own cookies and storage), 1280×800 and the host's time
 * zone unless told, that records console errors, page errors and CSP violations from its first document on.
 */
export interface NewPageOptions {
  baseURL?: string;
  colorScheme?: 'light' | 'dark' | 'no-preference';
  viewport?: { width: number; height: number };
  timezoneId?: string;
}

export async function newPage(browser: Browser, opts: NewPageOptions = {}): Promise<TestPage> {
  const context = await browser.newContext({ baseURL: opts.baseURL, colorScheme: opts.colorScheme ?? 'light', viewport: opts.viewport ?? { width: 1280, height: 800 }, timezoneId: opts.timezoneId });
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const cspViolations: CspViolation[] = [];

  // Bindings and init scripts are injected by the DevTools protocol, so a strict CSP on the page
  // does not block them; the listener is in place before any of the page's own scripts run.
  await context.exposeBinding('__cordonCspViolation', (_source, v: Omit<CspViolation, 'source' | 'message'>) => {
    cspViolations.push({ source: 'event', ...v, message: `CSP ${v.directive ?? '?'} blocked ${v.blockedURI ?? '?'} at ${v.sourceFile ?? '?'}:${v.line ?? '?'}` });
  });
  await context.addInitScript(() => {
    // Runs in the page; typed locally because this package compiles without the DOM library.
    type ViolationEvent = { effectiveDirective: string; violatedDirective: string; blockedURI: string; sourceFile: string; lineNumber: number };
    const page = globalThis as unknown as { document: { addEventListener(type: string, fn: (e: ViolationEvent) => void): void }; __cordonCspViolation?: (v: unknown) => void };
    page.document.addEventListener('securitypolicyviolation', (e) => {
      page.__cordonCspViolation?.({ directive: e.effectiveDirective || e.violatedDirective, blockedURI: e.blockedURI || null, sourceFile: e.sourceFile || null, line: e.lineNumber || null });
    });
  });

  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (CSP_CONSOLE.test(text)) cspViolations.push({ source: 'console', directive: null, blockedURI: null, sourceFile: m.location().url || null, line: m.location().lineNumber ?? null, message: text });
    else consoleErrors.push(`${text}${m.location().url ? ` (${m.location().url}:${m.location().lineNumber})` : ''}`);
  });
  page.on('pageerror', (e) => pageErrors.push(e.stack ?? e.message));

  return {
    page,
    context,
    consoleErrors,
    pageErrors,
    cspViolations,
    problems: () => [...consoleErrors.map((e) => `console: ${e}`), ...pageErrors.map((e) => `pageerror: ${e}`), ...cspViolations.map((v) => `csp (${v.source}): ${v.message}`)],
    close: () => context.close(),
  };
}

/** Writes a full-viewport PNG to e2e/.artifacts/screenshots/<name>.png; answers the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = join(SCREENSHOTS, `${name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '')}.png`);
  await page.screenshot({ path: file, animations: 'disabled' });
  return file;
}

/**
 * Signs in to the console as a user: `POST /api/auth/signin` through the page's own request
 * context, so the HttpOnly session cookie lands in the page's browser context.
 */
export async function signIn(page: Page, username: string, password: string): Promise<{ csrfToken: string }> {
  const r = await page.request.post('/api/auth/signin', { data: { username, password } });
  if (r.status() !== 200) throw new Error(`sign-in as ${username} answered ${r.status()}: ${await r.text()}`);
  return (await r.json()) as { csrfToken: string };
}

/** Whether packages/console/dist is older than its sources (the rule of scripts/build.mjs). */
function consoleStale(): boolean {
  const newest = (path: string): number => {
    if (!existsSync(path)) return 0;
    const st = statSync(path);
    if (!st.isDirectory()) return st.mtimeMs;
    return Math.max(st.mtimeMs, ...readdirSync(path).map((n) => newest(join(path, n))));
  };
  const dir = join(ROOT, 'packages', 'console');
  const builtAt = newest(join(dir, 'dist', 'index.html'));
  // The console bundles the API client and protocol's browser-safe parts (alert triage, path completion…).
  const sources = ['src', 'index.html', 'vite.config.ts', 'package.json', '../api-client/src', '../protocol/src'].map((p) => newest(join(dir, p)));
  return builtAt === 0 || Math.max(...sources, newest(join(ROOT, 'package-lock.json'))) > builtAt;
}

/**
 * Builds the console (`node scripts/build.mjs`) when its sources changed since the last build. Test
 * files run in parallel: a lock file makes the second one wait for the first one's build instead of
 * building into the same folder at the same time. Throws with the build's output when it fails.
 */
export async function buildConsoleIfStale(): Promise<void> {
  const lock = join(ROOT, 'packages', 'console', '.build.lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (!consoleStale()) return;
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch {
      // Another file is building; a lock older than the longest build is left over from a killed run.
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000) rmSync(lock, { force: true });
      if (Date.now() > deadline) throw new Error(`waited 3 minutes for the console build of another test file (${lock})`);
      await sleep(500);
      continue;
    }
    try {
      if (!consoleStale()) return;
      // Without vitest's NODE_ENV=test, which would make Vite bundle React's development build.
      const { NODE_ENV: _testEnv, ...env } = process.env;
      const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, env, encoding: 'utf8' });
      if (b.status !== 0) throw new Error(`node scripts/build.mjs failed:\n${b.stderr}`);
      return;
    } finally {
      closeSync(fd);
      rmSync(lock, { force: true });
    }
  }
}

/** A user to sign in as. */
export interface Credentials {
  username: string;
  password: string;
}

/** What a console test file runs against; {@link startConsoleBed} starts it. */
export interface ConsoleBed {
  server: CordonProcess;
  serverDir: string;
  /** The server's API and console: `http://127.0.0.1:<port>`. */
  base: string;
  /** The API as the first admin. */
  api: CordonClient;
  adminPassword: string;
  /** The agent gateway, and an enrollment token for it. */
  agentUrl: string;
  enrollment: string;
  browser: Browser;
  /** A new page (own cookies) on the server, every wait limited to the bed's page timeout; closed by `close()`. */
  page(opts?: Omit<NewPageOptions, 'baseURL'>): Promise<TestPage>;
  /** {@link page}, signed in as `user` (the first admin unless told). */
  signedIn(opts?: Omit<NewPageOptions, 'baseURL'>, user?: Credentials): Promise<TestPage>;
  /** Enrolls the real agent of this machine in a temp dir and runs it (log level warn unless `env` says); killed by `close()`. */
  startAgent(env?: Record<string, string>): Promise<{ agent: CordonProcess; agentDir: string; machineId: string }>;
  /** Waits until the device `machineId` is connected; answers it. */
  online(machineId: string): Promise<Machine>;
  /** Closes the pages and the browser, kills the server and every agent, removes `dirs`: each step even when one before it fails. */
  close(): Promise<void>;
}

/**
 * The start every console test file shares: a missing chromium fails the file with the package to
 * install (never a silent skip), the console is built if stale, then a `cordon server`
 * ({@link startConsoleServer}) and headless chromium start. `dirs` are the file's temp dirs: the bed
 * adds its own, and `close()` removes them all. When a step here fails, what was started is closed
 * before the error is thrown, since the caller gets no bed to close.
 *
 *   beforeAll(async () => { bed = await startConsoleBed('console-scan', dirs, { pageTimeoutMs: WAIT }); … });
 *   afterAll(() => bed?.close());
 */
export async function startConsoleBed(tag: string, dirs: string[], opts: { pageTimeoutMs: number }): Promise<ConsoleBed> {
  requireReal(REAL.chromium);
  const pages: TestPage[] = [];
  const processes: CordonProcess[] = [];
  let browser: Browser | undefined;

  const close = async (): Promise<void> => {
    const failures: unknown[] = [];
    // A page whose context went with a failed test has nothing left to close.
    for (const t of pages) await t.close().catch(() => undefined);
    await browser?.close().catch((e: unknown) => failures.push(e));
    const killed = await Promise.allSettled(processes.map((p) => p.kill('SIGKILL')));
    for (const k of killed) if (k.status === 'rejected') failures.push(k.reason);
    try {
      cleanup(dirs);
    } catch (e) {
      failures.push(e);
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, `closing the console bed ${tag} failed ${failures.length} times`);
  };

  try {
    await buildConsoleIfStale();
    const started = await startConsoleServer(`${tag}-server`, dirs);
    processes.push(started.server);
    const launched = (browser = await launchBrowser());

    const page = async (o: Omit<NewPageOptions, 'baseURL'> = {}): Promise<TestPage> => {
      const t = await newPage(launched, { ...o, baseURL: started.base });
      t.page.setDefaultTimeout(opts.pageTimeoutMs);
      pages.push(t);
      return t;
    };

    return {
      ...started,
      browser: launched,
      page,
      async signedIn(o = {}, user = { username: 'admin', password: started.adminPassword }) {
        const t = await page(o);
        await signIn(t.page, user.username, user.password);
        return t;
      },
      async startAgent(env = {}) {
        const agentDir = tempDir(`${tag}-agent`);
        dirs.push(agentDir);
        const enrolled = await cordon(['agent', 'enroll', '--server', started.agentUrl, '--token', started.enrollment, '--data-dir', agentDir]);
        if (enrolled.code !== 0) throw new Error(`cordon agent enroll exited with ${enrolled.code}: ${enrolled.stderr}`);
        const machineId = (JSON.parse(readFileSync(join(agentDir, 'enrollment.json'), 'utf8')) as { machineId: string }).machineId;
        const agent = new CordonProcess(['agent', 'run', '--data-dir', agentDir], { CORDON_AGENT_LOG_LEVEL: 'warn', ...env });
        processes.push(agent);
        return { agent, agentDir, machineId };
      },
      online: (machineId) =>
        until('the agent on this machine to be online', async () => {
          const m = await started.api.machine(machineId);
          return m.isConnected ? m : null;
        }, 60_000),
      close,
    };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
