/**
 * Run antivirus scan from the console, in a real browser (Debian's chromium) against a real
 * `cordon server` and the real agent on this machine, whose scans read a tree this test plants
 * (CORDON_AGENT_SCAN_ROOTS): an EICAR test file (built at run time from two halves), a file over
 * the size limit, and enough other files that a scan under a small CPU share runs a while.
 * - the device page's action bar: Quick or Full, and an optional CPU share;
 * - the scan's progress, live, in the device's Actions tab;
 * - the result: counts, the detection linked to its alert page, the skipped files by reason;
 * - a running scan cancelled from the Action center stays Cancelled once the agent stopped it.
 *
 * Nothing here changes this machine: the agent only reads the test's tree. Screenshots land in
 * e2e/.artifacts/screenshots/console-scan-*.png.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonClient, Machine } from '@cordon/cli/client';
import { screenshot, startConsoleBed, type ConsoleBed } from './browser.js';
import { tempDir, until } from './helpers.js';

const WAIT = 30_000;
const LONG_WAIT = 120_000;
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*');

describe('web console: antivirus scan', () => {
  const dirs: string[] = [];
  let bed: ConsoleBed;
  let agentDir: string;
  let api: CordonClient;
  let me: Machine;
  let eicarPath: string;

  /** An action's row in a table: its label links to the action's detail pane. */
  const rowOf = (table: Locator, actionId: string) => table.locator('tbody tr', { has: table.page().locator(`a[href*="action=${actionId}"]`) });

  beforeAll(async () => {
    bed = await startConsoleBed('console-scan', dirs, { pageTimeoutMs: WAIT });
    ({ api } = bed);
    const tree = tempDir('console-scan-tree');
    dirs.push(tree);
    mkdirSync(join(tree, 'home', 'ann', 'Downloads'), { recursive: true });
    eicarPath = join(tree, 'home', 'ann', 'Downloads', 'invoice.com');
    writeFileSync(eicarPath, EICAR);
    writeFileSync(join(tree, 'backup.img'), Buffer.alloc(2 * 1024 * 1024, 1));
    // Enough to read that a scan under a small CPU share runs for some seconds: its progress shows.
    for (let i = 0; i < 80; i++) writeFileSync(join(tree, `data-${i}.bin`), Buffer.alloc(1000 * 1024, i));
    const agent = await bed.startAgent({ CORDON_AGENT_SCAN_ROOTS: tree, CORDON_AGENT_SCAN_MAX_FILE_MB: '1' });
    agentDir = agent.agentDir;
    me = await bed.online(agent.machineId);
  }, 240_000);

  afterAll(() => bed?.close(), 90_000);

  it('runs a Quick scan from the device page under a CPU share, shows its progress, then its detection linked to its alert', async () => {
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto(`/devices/${me.id}?tab=actions`);
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();

    await page.locator('[data-action="RunAntiVirusScan"]').click();
    await page.getByRole('menuitem', { name: 'Quick scan' }).click();
    const dialog = page.getByRole('dialog', { name: `Run antivirus scan (Quick) — ${me.computerDnsName}` });
    await dialog.waitFor();
    // Quick or Full, and what each does.
    const types = dialog.getByRole('radiogroup', { name: 'Scan type' });
    expect(await types.getByRole('radio').evaluateAll((rs) => rs.map((r) => (r as unknown as { value: string }).value))).toEqual(['Quick', 'Full']);
    expect(await dialog.innerText()).toContain(`A quick scan of the places malware usually lives on ${me.computerDnsName}.`);
    // The CPU share is optional: empty, the device's default applies (said in the field's description).
    const cpu = dialog.getByLabel('CPU share (%)');
    expect(await cpu.inputValue()).toBe('');
    expect(await cpu.getAttribute('placeholder')).toBe("The device's default");
    expect(await dialog.innerText()).toContain("Without it, the device's default applies: its group's, else 50%.");
    await cpu.fill('2');
    await dialog.getByLabel('Comment').fill('e2e: user reported a strange invoice');
    await dialog.getByText("From 5 to 100, or empty for the device's default").waitFor();
    expect(await dialog.getByRole('button', { name: 'Run antivirus scan' }).isDisabled()).toBe(true);
    await cpu.fill('10');
    await screenshot(page, 'console-scan-dialog');
    await dialog.getByRole('button', { name: 'Run antivirus scan' }).click();
    await dialog.waitFor({ state: 'hidden' });

    const [scan] = await api.actions({ filter: `machineId eq '${me.id}' and type eq 'RunAntiVirusScan'` });
    expect(scan).toMatchObject({ scope: 'Quick', requestorComment: 'e2e: user reported a strange invoice', parameters: { scanType: 'Quick', cpuPercent: 10 } });

    // Its progress, live: percent, files, bytes, detections, the directory it is in.
    const table = page.getByTestId('device-actions-table');
    const row = rowOf(table, scan!.id);
    const progress = /^\d{1,2}% [\d,]+ files · \d+ MB · \d detections? · \//;
    const shown = await until('the scan to show its progress', async () => {
      const now = (await row.getByTestId('action-progress').allTextContents())[0];
      return now && progress.test(now) ? now : null;
    }, LONG_WAIT);
    expect(shown).toMatch(progress);
    expect(await row.getByTestId('cancel-action').isVisible()).toBe(true);
    await screenshot(page, 'console-scan-progress');

    await row.getByTestId('action-status').filter({ hasText: 'Succeeded' }).waitFor({ timeout: LONG_WAIT });
    expect(await row.getByTestId('scan-result-cell').innerText()).toMatch(/^1 detection\s+81 files, 1 skipped$/);
    expect(await row.getByTestId('cancel-action').count()).toBe(0);

    // The result, in the action's pane: counts, the detection with its alert, what was skipped and why.
    await row.getByTestId('action-link').click();
    const pane = page.getByRole('dialog', { name: `Run antivirus scan — ${me.computerDnsName}` });
    const result = pane.getByTestId('scan-result');
    await result.waitFor();
    const fact = (k: string) => result.locator(`[data-fact="${k}"]`);
    expect(await fact('files').innerText()).toBe('81');
    expect(await fact('detections').innerText()).toBe('1');
    expect(await fact('skipped').innerText()).toBe('1');
    expect(await fact('cpu').innerText()).toMatch(/^[\d.]+% \(cap 10%\)$/);
    const detection = result.getByTestId('scan-detection');
    expect(await detection.count()).toBe(1);
    expect(await detection.innerText()).toContain('EICAR_Test_File');
    expect(await detection.getByTestId('scan-detection-path').innerText()).toBe(eicarPath);
    expect((await result.getByTestId('scan-skipped-by-reason').innerText()).replace(/\s+/g, ' ').trim()).toBe('1 over the size limit');
    expect(await result.getByTestId('scan-skipped').innerText()).toContain(join('backup.img'));
    const alertLink = detection.getByTestId('scan-detection-alert');
    await alertLink.waitFor();
    await screenshot(page, 'console-scan-result');

    await alertLink.click();
    await page.waitForURL((u) => /^\/alerts\/[^/]+$/.test(u.pathname));
    const alertId = new URL(page.url()).pathname.split('/')[2]!;
    const alert = await api.alert(alertId);
    expect(alert).toMatchObject({ machineId: me.id, threatName: 'EICAR_Test_File', detectionSource: 'Antivirus' });
    expect(await page.getByTestId('alert-page-title').innerText()).toBe(alert.title);
    expect(await page.getByTestId('alert-evidence').innerText()).toContain(eicarPath);
    await screenshot(page, 'console-scan-alert');
    expect(t.problems()).toEqual([]);
  }, 240_000);

  it('cancels a running scan from the Action center: it stops on the device and stays Cancelled', async () => {
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto('/actions');
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
    const scan = await api.submit(me.id, 'runAntiVirusScan', { Comment: 'e2e: a slow full scan', ScanType: 'Full', CpuPercent: 5 });
    const row = rowOf(page.getByTestId('actions-table'), scan.id);
    await row.getByTestId('action-progress').waitFor({ timeout: LONG_WAIT });

    await row.getByTestId('cancel-action').click();
    const dialog = page.getByRole('dialog', { name: `Cancel Run antivirus scan on ${me.computerDnsName}` });
    expect(await dialog.innerText()).toContain('cancelling it stops it there within a second');
    await dialog.getByLabel('Comment').fill('e2e: wrong device');
    await dialog.getByRole('button', { name: 'Cancel action' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await row.getByTestId('action-status').filter({ hasText: 'Cancelled' }).waitFor();

    // The agent stopped the scan and its report reached the server (the server acknowledged it): still Cancelled.
    const journal = join(agentDir, 'journal', `${scan.id}.json`);
    await until('the agent to have its report of the stopped scan acknowledged', async () => existsSync(journal) && (JSON.parse(readFileSync(journal, 'utf8')) as { reported: boolean }).reported, WAIT);
    expect((await api.action(scan.id)).status).toBe('Cancelled');
    await page.reload();
    await row.getByTestId('action-status').filter({ hasText: 'Cancelled' }).waitFor();
    await screenshot(page, 'console-scan-cancelled');
    expect(t.problems()).toEqual([]);
  }, 180_000);
});
