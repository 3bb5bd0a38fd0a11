/**
 * Restrict app execution from the web console, for real (issue 18's "Done when"): a user in a real
 * browser (Debian's chromium) restricts a device from its page, sees it Restricted with the exec
 * guard's health and what it trusts, sees an untrusted program refused and the alert for it, lets
 * that program run with an Allowed indicator made on the Indicators page, sees a killed guard as a
 * gap on the timeline, and removes the restriction with "Remove app restrictions", after which
 * another untrusted program runs.
 *
 * The device is a real `cordon agent run` with its real exec guard, inside a private mount
 * namespace of its own (e2e/namespaced-agent.ts: proved not to be the host's, programs run there
 * through nsenter, the untrusted copies on a tmpfs mounted there only), so only that namespace is
 * ever restricted. The agent is killed at the end and no guard may be left. Needs root and the
 * built guard, as e2e/restriction.test.ts; a missing chromium fails the file. Screenshots land in
 * e2e/.artifacts/screenshots/console-restriction-*.png.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot, startConsoleBed, type ConsoleBed, type TestPage } from './browser.js';
import { tempDir, until } from './helpers.js';
import { changedCopy, enrollAgent, guardsOf, NamespacedAgent, noGuardLeft, NS_WAIT as WAIT, refused, restrictionSkip, TRUE } from './namespaced-agent.js';

const skip = restrictionSkip();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(skip)(skip ? `web console: restrict app execution (skipped: ${skip})` : 'web console: restrict app execution on a real agent (in a private mount namespace)', () => {
  const dirs: string[] = [];
  // Two untrusted programs: the first gets an Allowed indicator, the second runs only once unrestricted.
  const first = changedCopy(TRUE, 'x');
  const second = changedCopy(TRUE, 'y');
  let mnt: string;
  let bed: ConsoleBed;
  let agent: NamespacedAgent | undefined;
  let id: string;
  let name: string;
  let t: TestPage;
  let page: Page;
  /** Allowed hashes the guard trusted when restricted (Cordon's own runtime). */
  let allowedAtFirst: number;

  const at = (file: string) => join(mnt, file);
  const bar = () => page.getByTestId('action-bar');
  const panel = () => page.getByTestId('restriction-panel');
  const alertTitle = (scope: Page | Locator, file: string) => scope.getByTestId('alert-title').filter({ hasText: `Blocked an untrusted program: ${file}` });

  beforeAll(async () => {
    bed = await startConsoleBed('console-restriction', dirs, { pageTimeoutMs: WAIT });
    const root = tempDir('console-restriction');
    dirs.push(root);
    mnt = join(root, 'mnt');
    const agentDir = join(root, 'agent');
    mkdirSync(mnt);
    mkdirSync(agentDir);
    id = await enrollAgent(bed.agentUrl, bed.enrollment, agentDir);
    agent = new NamespacedAgent(agentDir);
    await agent.inOwnNamespace();
    await agent.mountTmpfs(mnt);
    writeFileSync(agent.view(at('first')), first, { mode: 0o755 });
    writeFileSync(agent.view(at('second')), second, { mode: 0o755 });
    const m = await until('the agent online and able to restrict', async () => {
      const m = await bed.api.machine(id);
      return m.isConnected && m.capabilities.some((c) => c.name === 'executionControl' && !c.unavailable) ? m : null;
    }, WAIT);
    name = m.computerDnsName;
    ({ page } = t = await bed.signedIn());
  }, 180_000);

  afterAll(async () => {
    await agent?.kill();
    try {
      // The guard exits with its agent (its stdin closes); none may be left.
      await noGuardLeft();
    } finally {
      await bed?.close();
    }
  }, 60_000);

  /** Opens an action's dialog from the bar's row, or from "More actions" when the row is full. */
  async function open(action: string): Promise<void> {
    await bar().locator('[data-action="ManageTags"]').waitFor();
    if ((await bar().locator(`[data-action="${action}"]`).count()) === 0) await bar().getByRole('button', { name: 'More actions' }).click();
    await page.locator(`[data-action="${action}"]:not([aria-disabled=true])`).click();
  }

  it('restricts the device from its page: Restricted, with the guard running and what it trusts', async () => {
    // Nothing is restricted yet: the untrusted copy runs in the namespace.
    expect(await agent!.run(at('first'))).toMatchObject({ code: 0 });
    await page.goto(`/devices/${id}`);
    await page.getByTestId('device-name').filter({ hasText: name }).waitFor();
    expect(await page.getByTestId('restriction-badge').count()).toBe(0);

    await open('RestrictCodeExecution');
    const dialog = page.getByRole('dialog', { name: `Restrict app execution — ${name}` });
    // What a restriction does not stop is said before anyone relies on it.
    await dialog.getByTestId('restriction-not-covered').filter({ hasText: 'memfd_create' }).waitFor();
    await screenshot(page, 'console-restriction-dialog');
    const submit = dialog.getByRole('button', { name: 'Restrict app execution', exact: true });
    expect(await submit.isDisabled()).toBe(true);
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('e2e: contain after the alert');
    await submit.click();
    await dialog.waitFor({ state: 'detached' });

    // The agent built its trust list from dpkg and started the guard: Restricted, live.
    await page.locator('[data-testid=restriction-badge][data-state=Restricted]').waitFor();
    await page.locator('[data-testid=restriction-panel][data-guard=running]').waitFor();
    const { restriction } = await bed.api.machine(id);
    expect(restriction).toMatchObject({ state: 'Restricted', guard: 'running', error: null });
    const trusted = restriction!.trusted!;
    expect(trusted.packageFiles).toBeGreaterThan(1000);
    expect(trusted.allowedHashes).toBeGreaterThan(0);
    allowedAtFirst = trusted.allowedHashes;
    await panel().filter({ hasText: `${trusted.packageFiles.toLocaleString('en-US')} package files and ${allowedAtFirst.toLocaleString('en-US')} allowed hashes are trusted` }).waitFor();
    expect(guardsOf(agent!.pid)).toHaveLength(1);
    // The bar offers the reverse only.
    if ((await bar().locator('[data-action="UnrestrictCodeExecution"]').count()) === 0) await bar().getByRole('button', { name: 'More actions' }).click();
    await page.locator('[data-action="UnrestrictCodeExecution"]', { hasText: 'Remove app restrictions' }).waitFor();
    expect(await page.locator('[data-action="RestrictCodeExecution"]').count()).toBe(0);
    await page.keyboard.press('Escape');
  });

  it('refuses the untrusted program with EPERM, and the user sees the Low alert on the device page and in the queue', async () => {
    expect(await agent!.run(TRUE)).toMatchObject({ code: 0 });
    const r = await agent!.run(at('first'));
    expect(refused(r), `${r.code} ${r.stderr}`).toBe(true);

    await page.getByRole('tab', { name: 'Alerts' }).click();
    await alertTitle(page.getByTestId('device-alerts-table'), 'first').waitFor();
    // The device's risk follows its highest open alert, live.
    await page.locator('[data-testid=risk-badge][data-risk=Low]').waitFor();
    await screenshot(page, 'console-restriction-restricted');
    const alerts = await bed.api.alerts({ filter: `machineId eq '${id}'` });
    expect(alerts).toEqual([expect.objectContaining({ severity: 'Low', detectionSource: 'ExecutionControl' })]);
    expect(alerts[0]!.evidence).toContainEqual(expect.objectContaining({ entityType: 'File', sha256: sha256(first), filePath: at('first'), detectionStatus: 'Blocked' }));
    await page.goto('/alerts');
    await alertTitle(page, 'first').waitFor();
  });

  it('lets that program run once its SHA-256 is an Allowed indicator, added on the Indicators page', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Indicators' }).click();
    await page.getByRole('button', { name: 'Add indicator' }).click();
    const dialog = page.getByRole('dialog');
    for (const [label, option] of [['Type', 'File SHA-256'], ['Action', 'Allow']] as const) {
      await dialog.getByLabel(new RegExp(`^${label}( \\*)?$`)).click();
      await page.getByRole('option', { name: option, exact: true }).click();
    }
    await dialog.getByRole('textbox', { name: 'Value' }).fill(sha256(first));
    await dialog.getByRole('textbox', { name: 'Title' }).fill('e2e: a build we trust');
    await dialog.getByRole('button', { name: 'Add indicator' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await bed.api.indicators()).toEqual([expect.objectContaining({ indicatorType: 'FileSha256', indicatorValue: sha256(first), action: 'Allowed' })]);

    // The agent reloads its guard with one more allowed hash, and the device page says so.
    await page.goto(`/devices/${id}`);
    await panel().filter({ hasText: `${(allowedAtFirst + 1).toLocaleString('en-US')} allowed hashes are trusted` }).waitFor();
    // Reported after the guard took the new list: it runs now, and the other copy is still refused.
    expect(await agent!.run(at('first'))).toMatchObject({ code: 0 });
    expect(refused(await agent!.run(at('second')))).toBe(true);
    await screenshot(page, 'console-restriction-allowed');
  });

  it('shows a killed guard as a gap in enforcement, and the guard back', async () => {
    const [guard] = guardsOf(agent!.pid);
    process.kill(guard!, 'SIGKILL');
    // The restart (after 1 s) can beat the page, so what stays is checked: the timeline and the last problem.
    await page.getByTestId('timeline-table').getByText('App restriction guard stopped; programs could start unchecked until it restarts: the exec guard stopped (killed by SIGKILL)').waitFor();
    const problem = page.locator('[data-testid=restriction-panel][data-guard=running]').getByTestId('restriction-error').filter({ hasText: 'killed by SIGKILL' });
    await problem.waitFor();
    // The guard is back: the last problem says when it stopped, not that it is restarting still.
    expect(await problem.innerText()).toMatch(/^Last problem: the exec guard stopped \(killed by SIGKILL\) at \S+Z$/);
    await until('a new guard refusing the other copy', async () => guardsOf(agent!.pid).some((p) => p !== guard) && refused(await agent!.run(at('second'))), WAIT);
    await screenshot(page, 'console-restriction-guard-gap');
  });

  it('removes the restriction with "Remove app restrictions": the other untrusted program runs, and no guard is left', async () => {
    await open('UnrestrictCodeExecution');
    const undo = page.getByRole('dialog', { name: `Remove app restrictions — ${name}` });
    await undo.getByRole('textbox', { name: 'Comment' }).fill('e2e: all clear');
    await undo.getByRole('button', { name: 'Remove app restrictions', exact: true }).click();
    await undo.waitFor({ state: 'detached' });
    await page.getByTestId('restriction-badge').waitFor({ state: 'detached' });
    await panel().waitFor({ state: 'detached' });
    await bar().locator('[data-action="ManageTags"]').waitFor();
    expect(await bed.api.machine(id)).toMatchObject({ restrictionState: 'Unrestricted', restriction: { state: 'Unrestricted', guard: null } });
    await until('the guard gone', async () => guardsOf(agent!.pid).length === 0, WAIT);
    expect(await agent!.run(at('second'))).toMatchObject({ code: 0 });
    await screenshot(page, 'console-restriction-removed');
    expect(t.problems()).toEqual([]);
  });
});
