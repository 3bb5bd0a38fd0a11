/**
 * Issue 16's walk-through in a real browser (Debian's chromium) against a real `cordon server` and
 * the real agent on this machine, whose scans read a tree this test plants (CORDON_AGENT_SCAN_ROOTS)
 * with an EICAR test file built at run time from two halves: a Quick scan from the device page, its
 * detection's alert, "Stop and quarantine file" from the alert's evidence (the file leaves the disk
 * and is listed in the device's Quarantine tab), and "Restore" from that tab (the file is back,
 * byte for byte).
 *
 * Nothing here changes this machine beyond the test's tree and the agent's own data directory.
 * Screenshots land in e2e/.artifacts/screenshots/console-quarantine-*.png.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonClient, Machine } from '@cordon/cli/client';
import { screenshot, startConsoleBed, type ConsoleBed } from './browser.js';
import { tempDir } from './helpers.js';

const WAIT = 30_000;
const LONG_WAIT = 120_000;
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('web console: quarantine a detected file from its alert, and restore it', () => {
  const dirs: string[] = [];
  let bed: ConsoleBed;
  let api: CordonClient;
  let me: Machine;
  let eicarPath: string;

  /** An action's row in a table: its label links to the action's detail pane. */
  const rowOf = (table: Locator, actionId: string) => table.locator('tbody tr', { has: table.page().locator(`a[href*="action=${actionId}"]`) });

  beforeAll(async () => {
    bed = await startConsoleBed('console-quarantine', dirs, { pageTimeoutMs: WAIT });
    ({ api } = bed);
    const tree = tempDir('console-quarantine-tree');
    dirs.push(tree);
    mkdirSync(join(tree, 'home', 'ann', 'Downloads'), { recursive: true });
    eicarPath = join(tree, 'home', 'ann', 'Downloads', 'invoice.com');
    writeFileSync(eicarPath, EICAR);
    writeFileSync(join(tree, 'home', 'ann', 'notes.txt'), 'nothing to see');
    const { machineId } = await bed.startAgent({ CORDON_AGENT_SCAN_ROOTS: tree });
    me = await bed.online(machineId);
  }, 240_000);

  afterAll(() => bed?.close(), 90_000);

  it('scans, opens the detection’s alert, quarantines the file from it, then restores it from the device’s Quarantine tab', async () => {
    const t = await bed.signedIn();
    const { page } = t;

    // A Quick scan from the device page, followed to its end in the Actions tab.
    await page.goto(`/devices/${me.id}?tab=actions`);
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
    await page.locator('[data-action="RunAntiVirusScan"]').click();
    await page.getByRole('menuitem', { name: 'Quick scan' }).click();
    const scanDialog = page.getByRole('dialog', { name: `Run antivirus scan (Quick) — ${me.computerDnsName}` });
    await scanDialog.getByLabel('Comment').fill('e2e: user reported a strange invoice');
    await scanDialog.getByRole('button', { name: 'Run antivirus scan' }).click();
    await scanDialog.waitFor({ state: 'hidden' });
    const [scan] = await api.actions({ filter: `machineId eq '${me.id}' and type eq 'RunAntiVirusScan'` });
    const scanRow = rowOf(page.getByTestId('device-actions-table'), scan!.id);
    await scanRow.getByTestId('action-status').filter({ hasText: 'Succeeded' }).waitFor({ timeout: LONG_WAIT });

    // Its detection links to its alert.
    await scanRow.getByTestId('action-link').click();
    const alertLink = page.getByTestId('scan-detection-alert');
    await alertLink.waitFor();
    await alertLink.click();
    await page.waitForURL((u) => /^\/alerts\/[^/]+$/.test(u.pathname));
    const evidence = page.getByTestId('alert-evidence');
    expect(await evidence.innerText()).toContain(eicarPath);

    // Stop and quarantine file, from the File evidence: what it does, the file, a required comment.
    await evidence.getByTestId('quarantine-file').click();
    const dialog = page.getByRole('dialog', { name: `Stop and quarantine file — ${me.computerDnsName}` });
    await dialog.waitFor();
    const said = await dialog.innerText();
    expect(said).toContain(`The agent on ${me.computerDnsName} kills every process that runs or maps a file with this hash, and moves every such file it knows of`);
    expect(said).toContain(eicarPath);
    expect(said).toContain(sha256(EICAR));
    const submit = dialog.getByRole('button', { name: 'Stop and quarantine file' });
    expect(await submit.isDisabled()).toBe(true);
    await dialog.getByLabel('Comment').fill('e2e: EICAR on ann’s laptop');
    await screenshot(page, 'console-quarantine-dialog');
    await submit.click();
    await dialog.waitFor({ state: 'hidden' });

    const [quarantine] = await api.actions({ filter: `machineId eq '${me.id}' and type eq 'StopAndQuarantineFile'` });
    expect(quarantine).toMatchObject({ requestorComment: 'e2e: EICAR on ann’s laptop', parameters: { sha256: sha256(EICAR), path: eicarPath } });
    // The alert shows the action's state, live, linked to its detail.
    const state = evidence.getByTestId('quarantine-action');
    await state.getByTestId('action-status').filter({ hasText: 'Succeeded' }).waitFor({ timeout: LONG_WAIT });
    expect(await state.getByTestId('action-link').getAttribute('href')).toContain(`action=${quarantine!.id}`);
    expect(existsSync(eicarPath)).toBe(false);
    await screenshot(page, 'console-quarantine-alert');

    // The device's Quarantine tab lists it; Restore puts it back.
    await page.getByTestId('alert-device-link').click();
    await page.getByRole('tab', { name: 'Quarantine' }).click();
    await page.waitForURL((u) => u.searchParams.get('tab') === 'quarantine');
    const table = page.getByTestId('quarantine-table');
    const row = table.locator('tbody tr', { hasText: eicarPath });
    await row.getByTestId('quarantine-state').filter({ hasText: 'Quarantined' }).waitFor();
    const rowText = await row.innerText();
    expect(rowText).toContain('invoice.com');
    expect(rowText).toContain(sha256(EICAR).slice(0, 12));
    expect(rowText).toContain('68 B');
    expect(rowText).toContain('by admin');
    await screenshot(page, 'console-quarantine-tab');

    await row.getByTestId('restore-file').click();
    const restoreDialog = page.getByRole('dialog', { name: `Restore quarantined file — ${me.computerDnsName}` });
    expect(await restoreDialog.innerText()).toContain(eicarPath);
    await restoreDialog.getByLabel('Comment').fill('e2e: the test file is wanted back');
    await restoreDialog.getByRole('button', { name: 'Restore quarantined file' }).click();
    await restoreDialog.waitFor({ state: 'hidden' });
    // Refreshed live when the action ends: Restored, and no Restore button any more.
    await row.getByTestId('quarantine-state').filter({ hasText: 'Restored' }).waitFor({ timeout: LONG_WAIT });
    expect(await row.getByTestId('restore-file').count()).toBe(0);
    expect(readFileSync(eicarPath).equals(EICAR)).toBe(true);
    await screenshot(page, 'console-quarantine-restored');
    expect(t.problems()).toEqual([]);
  }, 300_000);
});
