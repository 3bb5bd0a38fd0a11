/**
 * Device groups in a real browser (Debian's chromium) against a real `cordon server`: an admin adds
 * a group from Administration, sees a duplicate name refused in the dialog, edits its rank and
 * shell setting, and deletes it; the device page shows the group of a device that carries the
 * group's tag (Ungrouped devices otherwise); an analyst is not offered the page.
 *
 * The device is enrolled but its agent is not run: membership needs only its tags.
 * Screenshots land in e2e/.artifacts/screenshots/console-groups-*.png.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonClient } from '@cordon/cli/client';
import { screenshot, startConsoleBed, type ConsoleBed, type TestPage } from './browser.js';
import { cordon, tempDir } from './helpers.js';

const WAIT = 30_000;

describe('web console: device groups', () => {
  const dirs: string[] = [];
  let bed: ConsoleBed;
  let api: CordonClient;
  let base: string;
  let machineId: string;
  const analyst = { username: 'ana.analyst', password: '' };

  const table = (page: Page) => page.getByTestId('device-groups');
  const rowOf = (page: Page, name: string) => table(page).locator(`tbody tr[data-group="${name}"]`);
  const deviceGroup = async (page: Page) => {
    await page.goto(`/devices/${machineId}`);
    return page.getByTestId('device-group').textContent();
  };

  beforeAll(async () => {
    bed = await startConsoleBed('console-groups', dirs, { pageTimeoutMs: WAIT });
    ({ api, base } = bed);
    const agentDir = tempDir('console-groups-agent');
    dirs.push(agentDir);
    const enrolled = await cordon(['agent', 'enroll', '--server', bed.agentUrl, '--token', bed.enrollment, '--data-dir', agentDir]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    machineId = (JSON.parse(readFileSync(join(agentDir, 'enrollment.json'), 'utf8')) as { machineId: string }).machineId;
    await api.tag(machineId, 'web', 'Add');
    const user = await cordon(['user', 'create', '--username', analyst.username, '--role', 'analyst', '--data-dir', bed.serverDir]);
    expect(user.code, user.stderr).toBe(0);
    analyst.password = /^password: (\S+)$/m.exec(user.stdout)![1]!;
  }, 240_000);

  afterAll(() => bed?.close(), 90_000);

  it('adds, refuses a duplicate, edits and deletes a group; the device page follows', async () => {
    const t: TestPage = await bed.signedIn();
    const { page } = t;
    expect(await deviceGroup(page)).toBe('Ungrouped devices');

    await page.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: 'Device groups' }).click();
    await page.waitForURL((u) => u.pathname === '/admin/groups');
    await table(page).getByText('No device groups').waitFor();

    await page.getByTestId('add-group').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: 'Name' }).fill('Web servers');
    await dialog.getByRole('textbox', { name: 'Devices tagged' }).fill('WEB');
    await dialog.getByRole('textbox', { name: 'Description' }).fill('front ends');
    await dialog.getByRole('switch', { name: "Allow live response's shell" }).click();
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('shell for the web team');
    await dialog.getByRole('button', { name: 'Add device group' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => rowOf(page, 'Web servers').getByTestId('group-shell').textContent(), { timeout: WAIT }).toBe('Allowed');
    expect(await rowOf(page, 'Web servers').textContent()).toMatch(/^1Web serversWEBAllowedfront ends/);
    const [stored] = await api.deviceGroups();
    expect(stored).toMatchObject({ name: 'Web servers', rank: 1, rule: { tag: 'WEB' }, liveResponseShell: true, description: 'front ends', createdBy: 'admin' });

    // The same name in another case: the server's reason, in the dialog, and nothing added.
    await page.getByTestId('add-group').click();
    await dialog.getByRole('textbox', { name: 'Name' }).fill('web servers');
    await dialog.getByRole('textbox', { name: 'Devices tagged' }).fill('other');
    await dialog.getByRole('button', { name: 'Add device group' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/a device group named "Web servers" exists already/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await api.deviceGroups()).toHaveLength(1);
    await screenshot(page, 'console-groups-list');

    expect(await deviceGroup(page)).toBe('Web servers');

    // Edit: a lower priority and no shell.
    await page.goto('/admin/groups');
    await rowOf(page, 'Web servers').getByRole('button', { name: 'Edit' }).click();
    await dialog.getByRole('textbox', { name: 'Rank' }).fill('3');
    await dialog.getByRole('switch', { name: "Allow live response's shell" }).click();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => rowOf(page, 'Web servers').getByTestId('group-shell').textContent(), { timeout: WAIT }).toBe('Not allowed');
    expect((await api.deviceGroups())[0]).toMatchObject({ rank: 3, liveResponseShell: false, rule: { tag: 'WEB' }, description: 'front ends' });

    await rowOf(page, 'Web servers').getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('retired');
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await table(page).getByText('No device groups').waitFor();
    expect(await api.deviceGroups()).toEqual([]);
    expect(await deviceGroup(page)).toBe('Ungrouped devices');
    expect(t.problems().filter((p) => !p.includes(`(${base}/api/machinegroups:0)`) || !p.includes('status of 400'))).toEqual([]);
  }, 120_000);

  it("shows an analyst the device's group but not the page that manages groups", async () => {
    await api.addDeviceGroup({ name: 'Front', rule: { tag: 'web' } });
    const t = await bed.signedIn({}, analyst);
    const { page } = t;
    expect(await deviceGroup(page)).toBe('Front');
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Device groups' }).count()).toBe(0);
    expect(t.problems()).toEqual([]);
  }, 60_000);
});
