/**
 * The console's administration pages in a real browser (Debian's chromium) against a real
 * `cordon server` and its SQLite store: an admin revokes an API token and disables a user from
 * Credentials, each with a comment; the Audit log shows those records and the chain verified; after
 * one record is edited directly in the database, the page names it as the first broken record. A
 * viewer sees no administration navigation and gets the API's refusal at the addresses.
 *
 * Every page is checked for console errors, page errors and CSP violations, less the refusals a
 * test provokes on purpose. Screenshots land in e2e/.artifacts/screenshots/console-admin-*.png.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsoleIfStale, launchBrowser, newPage, screenshot, signIn, type TestPage } from './browser.js';
import { cleanup, cordon, CordonProcess, freePort, REAL, requireReal, tempDir } from './helpers.js';

const WAIT = 15_000;
/** Credential names are chosen by whoever makes them: they must show as text. */
const HOSTILE = '<img src=x onerror=alert(1)>';

describe('web console: administration', () => {
  beforeAll(() => void requireReal(REAL.chromium));
  const dirs: string[] = [];
  const pages: TestPage[] = [];
  let serverDir: string;
  let server: CordonProcess;
  let browser: Browser;
  let base: string;
  let adminToken: string;
  let adminPassword: string;
  const viewer = { username: 'vic.viewer', password: '' };
  const leaver = { username: `dana-${randomBytes(3).toString('hex')}`, password: '' };
  /** An API token made by an admin for a script, revoked from the console. */
  const script = { id: '', token: '', name: HOSTILE };
  const comment = `token leaked in a CI log ${randomBytes(3).toString('hex')}`;

  /** `fetch` against the server, JSON in and out. */
  async function call(method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body ? { 'content-type': 'application/json' } : {}) },
      body: opts.body ? JSON.stringify(opts.body) : undefined,
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  }

  async function createUser(username: string, role: string): Promise<string> {
    const r = await cordon(['user', 'create', '--username', username, '--role', role, '--data-dir', serverDir]);
    expect(r.code, r.stderr).toBe(0);
    return /^password: (\S+)$/m.exec(r.stdout)![1]!;
  }

  async function open(): Promise<TestPage> {
    const t = await newPage(browser, { baseURL: base });
    t.page.setDefaultTimeout(WAIT);
    pages.push(t);
    return t;
  }

  /** The page's problems, less the failed loads of this server's API the test provoked (status and path). */
  function unexpected(t: TestPage, expected: { status: number; path: string }[] = []): string[] {
    return t.problems().filter((p) => {
      const m = /^console: Failed to load resource: the server responded with a status of (\d+) \([^)]*\) \((.+):0\)$/.exec(p);
      if (!m?.[2]?.startsWith(`${base}/`)) return true;
      const path = new URL(m[2]).pathname;
      return !expected.some((e) => e.status === Number(m[1]) && e.path === path);
    });
  }

  beforeAll(async () => {
    await buildConsoleIfStale();
    serverDir = tempDir('console-admin');
    dirs.push(serverDir);
    const port = await freePort();
    const agentPort = await freePort();
    // A checkpoint every second, so the page has a signed checkpoint to name.
    server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], {
      CORDON_RATE_LIMIT_PER_MINUTE: '0',
      CORDON_LOG_LEVEL: 'warn',
      CORDON_AUDIT_CHECKPOINT_SECONDS: '1',
    });
    adminToken = await server.line(/^admin token: (\S+)$/m, 60_000);
    adminPassword = await server.line(/^admin password: (\S+)/m);
    base = `http://127.0.0.1:${port}`;
    [viewer.password, leaver.password] = await Promise.all([createUser(viewer.username, 'viewer'), createUser(leaver.username, 'analyst')]);
    const made = await call('POST', '/api/tokens', { token: adminToken, body: { role: 'analyst', name: script.name } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    script.id = made.body.id;
    script.token = made.body.token;
    // More audit records than one page of the log (50) holds.
    for (let i = 0; i < 60; i++) expect((await call('POST', '/api/enrollmentTokens', { token: adminToken })).status).toBe(201);
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    for (const t of pages) await t.close().catch(() => undefined);
    await browser?.close();
    await server?.kill('SIGKILL');
    cleanup(dirs);
  }, 30_000);

  it('an admin revokes an API token with a comment: it shows as revoked and the API refuses it (401)', async () => {
    expect((await call('GET', '/api/machines', { token: script.token })).status).toBe(200);
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/');
    await page.getByTestId('admin-nav').getByRole('link', { name: 'Credentials' }).click();
    await page.waitForURL((u) => u.pathname === '/admin/credentials');

    const row = page.getByTestId('credentials-tokens').locator(`[data-credential="${script.id}"]`);
    await row.waitFor();
    // The name is shown as the text it is: no element was made from it.
    await row.getByText(HOSTILE, { exact: true }).waitFor();
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await row.getByTestId('credential-state').textContent()).toBe('Active');
    await screenshot(page, 'console-admin-credentials');

    await row.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog', { name: `Revoke API token ${HOSTILE}` });
    await dialog.waitFor();
    const confirm = dialog.getByRole('button', { name: 'Revoke token' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByRole('textbox', { name: 'Comment' }).fill(comment);
    await screenshot(page, 'console-admin-revoke-dialog');
    await confirm.click();
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => row.getByTestId('credential-state').textContent(), { timeout: WAIT }).toBe('Revoked');
    expect(await row.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    expect(await row.innerText()).toContain('by admin');
    await screenshot(page, 'console-admin-revoked');

    expect((await call('GET', '/api/machines', { token: script.token })).status).toBe(401);
    const listed = (await call('GET', '/api/tokens', { token: adminToken })).body.value.find((x: { id: string }) => x.id === script.id);
    expect(listed).toMatchObject({ revokedBy: 'admin', revokedAt: expect.any(String) });
    expect(unexpected(t)).toEqual([]);
  }, 40_000);

  it('shows the API refusal when the token was revoked meanwhile (409), and the list catches up', async () => {
    const other = await call('POST', '/api/tokens', { token: adminToken, body: { role: 'viewer', name: 'dashboard-script' } });
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/admin/credentials');
    const row = page.getByTestId('credentials-tokens').locator(`[data-credential="${other.body.id}"]`);
    await row.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke API token dashboard-script' });
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('no longer used');
    // Another admin is quicker.
    expect((await call('DELETE', `/api/tokens/${other.body.id}`, { token: adminToken, body: { comment: 'first' } })).status).toBe(200);
    await dialog.getByRole('button', { name: 'Revoke token' }).click();
    const error = dialog.getByTestId('revoke-error');
    await error.waitFor();
    const again = await call('DELETE', `/api/tokens/${other.body.id}`, { token: adminToken, body: { comment: 'again' } });
    expect(again.status).toBe(409);
    expect((await error.textContent())?.trim()).toBe(again.body.error.message);
    await screenshot(page, 'console-admin-revoke-409');
    await dialog.getByRole('button', { name: 'Keep it' }).click();
    await expect.poll(() => row.getByTestId('credential-state').textContent(), { timeout: WAIT }).toBe('Revoked');
    expect(unexpected(t, [{ status: 409, path: `/api/tokens/${other.body.id}` }])).toEqual([]);
  }, 30_000);

  it('an admin disables a user: marked disabled, and their sign-in is refused', async () => {
    expect((await call('POST', '/api/auth/signin', { body: leaver })).status).toBe(200);
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/admin/credentials');
    await page.getByRole('tab', { name: 'Users' }).click();
    await page.waitForURL((u) => u.searchParams.get('kind') === 'users');
    const table = page.getByTestId('credentials-users');
    const row = table.locator('tr', { hasText: leaver.username });
    await row.getByRole('button', { name: 'Disable' }).click();
    const dialog = page.getByRole('dialog', { name: `Disable user ${leaver.username}` });
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('left the company');
    await dialog.getByRole('button', { name: 'Disable user' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => row.getByTestId('credential-state').textContent(), { timeout: WAIT }).toBe('Disabled');
    // Admin, viewer and the disabled user are listed; the others stay active.
    expect(await table.getByTestId('credential-state').allTextContents()).toEqual(expect.arrayContaining(['Active', 'Active', 'Disabled']));
    await screenshot(page, 'console-admin-users');
    expect((await call('POST', '/api/auth/signin', { body: leaver })).status).toBe(401);
    expect(unexpected(t)).toEqual([]);
  }, 30_000);

  it('shows the audit log with the revocations and the chain verified; names the record edited in the database', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/');
    await page.getByTestId('admin-nav').getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL((u) => u.pathname === '/admin/audit');

    const records = (await call('GET', '/api/audit?$top=1000', { token: adminToken })).body.value as { seq: number; action: string; targetId: string | null; comment: string | null }[];
    const revoked = records.find((r) => r.action === 'RevokeApiToken' && r.targetId === script.id)!;
    const disabled = records.find((r) => r.action === 'DisableUser')!;
    expect(revoked.comment).toBe(comment);
    const table = page.getByTestId('audit-table');
    const revokedRow = table.locator(`[data-seq="${revoked.seq}"]`);
    await revokedRow.waitFor();
    const text = (await revokedRow.innerText()).replace(/\s+/g, ' ');
    for (const part of ['admin', 'RevokeApiToken', `token ${script.id}`, comment]) expect(text).toContain(part);
    await revokedRow.getByText('Succeeded', { exact: true }).waitFor();
    expect((await table.locator(`[data-seq="${disabled.seq}"]`).innerText()).replace(/\s+/g, ' ')).toContain('DisableUser');
    expect((await table.locator(`[data-seq="${disabled.seq}"]`).innerText()).replace(/\s+/g, ' ')).toContain('left the company');
    // Newest first, 50 a page; Older and Newer page through the rest.
    const seqsShown = () => table.locator('[data-seq]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));
    const seqs = await seqsShown();
    expect(seqs).toHaveLength(50);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(await page.getByTestId('audit-range').textContent()).toBe('Records 1–50, newest first');
    await page.getByRole('button', { name: 'Older' }).click();
    await expect.poll(seqsShown, { timeout: WAIT }).toEqual(Array.from({ length: seqs.at(-1)! - 1 }, (_, i) => seqs.at(-1)! - 1 - i));
    expect(await page.getByTestId('audit-range').textContent()).toBe(`Records 51–${50 + seqs.at(-1)! - 1}, newest first`);
    expect(await page.getByRole('button', { name: 'Older' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Newer' }).click();
    await expect.poll(async () => (await seqsShown())[0], { timeout: WAIT }).toBeGreaterThanOrEqual(seqs[0]!);

    // The server signs a checkpoint every second: wait for one to cover the revocation.
    let verified = '';
    await expect
      .poll(
        async () => {
          await page.reload();
          verified = (await page.getByTestId('audit-verified').innerText()).replace(/\s+/g, ' ');
          return Number(/last signed checkpoint at record (\d+)/.exec(verified)?.[1] ?? 0) >= revoked.seq;
        },
        { timeout: WAIT, interval: 500 },
      )
      .toBe(true);
    expect(verified).toMatch(/^verified: \d+ record\(s\) intact, last signed checkpoint at record \d+, /);
    await screenshot(page, 'console-admin-audit');

    // Someone with write access to the database rewrites the revocation's comment.
    const db = new Database(join(serverDir, 'cordon.db'));
    try {
      expect(db.prepare("update audit_log set comment = 'routine rotation' where seq = ?").run(revoked.seq).changes).toBe(1);
    } finally {
      db.close();
    }
    await page.reload();
    const alert = page.getByTestId('audit-tampered');
    await alert.waitFor();
    const alertText = (await alert.innerText()).replace(/\s+/g, ' ');
    expect(alertText).toContain(`record ${revoked.seq} is the first broken one`);
    expect(alertText).toContain(`record ${revoked.seq} was changed after it was written`);
    expect(await page.getByTestId('audit-verified').count()).toBe(0);
    await screenshot(page, 'console-admin-audit-tampered');
    expect(unexpected(t)).toEqual([]);
  }, 40_000);

  it('a viewer sees no administration navigation, and the API refuses them at the addresses', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, viewer.username, viewer.password);
    await page.goto('/');
    await page.getByRole('link', { name: 'Devices', exact: true }).waitFor();
    expect(await page.getByTestId('admin-nav').count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Credentials' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Audit log' }).count()).toBe(0);

    const refusal = await page.request.get('/api/audit');
    expect(refusal.status()).toBe(403);
    const auditMessage = ((await refusal.json()) as { error: { message: string } }).error.message;
    await page.goto('/admin/audit');
    const alerts = page.getByRole('alert');
    await expect.poll(() => alerts.allInnerTexts(), { timeout: WAIT }).toEqual(expect.arrayContaining([expect.stringContaining(auditMessage)]));
    // Said once, with no empty table under it.
    expect(await alerts.count()).toBe(1);
    expect(await page.getByTestId('audit-table').count()).toBe(0);
    await screenshot(page, 'console-admin-viewer-audit');

    const tokens = await page.request.get('/api/tokens');
    expect(tokens.status()).toBe(403);
    const tokensMessage = ((await tokens.json()) as { error: { message: string } }).error.message;
    await page.goto('/admin/credentials');
    await page.getByRole('alert').filter({ hasText: tokensMessage }).waitFor();
    expect(await page.getByTestId('credentials-tokens').count()).toBe(0);
    expect(unexpected(t, ['/api/audit', '/api/audit/verify', '/api/tokens'].map((path) => ({ status: 403, path })))).toEqual([]);
  }, 30_000);
});
