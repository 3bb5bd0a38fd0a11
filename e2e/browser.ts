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
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REAL, requireReal, ROOT, sleep } from './helpers.js';

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
export async function newPage(browser: Browser, opts: { baseURL?: string; colorScheme?: 'light' | 'dark' | 'no-preference'; viewport?: { width: number; height: number }; timezoneId?: string } = {}): Promise<TestPage> {
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
  const sources = ['src', 'index.html', 'vite.config.ts', 'package.json', '../api-client/src'].map((p) => newest(join(dir, p)));
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
