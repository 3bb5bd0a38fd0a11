/**
 * Response readiness in a real browser (Debian's chromium) against a real `cordon server`: devices
 * that enroll over the real gateway with an inventory of the test's choosing (no agent behind them)
 * — one that can isolate and collect, one whose agent has isolation but lacks nft, one whose agent
 * is too old. The device page says in plain words why a button is disabled; the devices list says
 * what each device cannot do and filters on it; the dashboard counts the devices that could not be
 * isolated, before any incident. And the Action center's "Submitted by" finds the admin by the
 * start of the name, in any case.
 *
 * Nothing here changes this machine: no agent runs, and no action reaches a device.
 * Screenshots land in e2e/.artifacts/screenshots/console-capabilities-*.png.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_VERSION, enroll } from '@cordon/agent';
import type { Inventory } from '@cordon/protocol';
import { screenshot, startConsoleBed, type ConsoleBed } from './browser.js';
import { tempDir, until } from './helpers.js';

const WAIT = 30_000;
const NO_NFT = 'nft is not installed (install the nftables package)';

function simInventory(name: string, agentVersion: string, capabilities: Inventory['capabilities']): Inventory {
  return {
    hostname: name,
    osPlatform: 'Linux',
    osVersion: 'Debian GNU/Linux 12 (bookworm)',
    osProcessor: 'x64',
    kernel: '6.1.0-sim',
    ipAddresses: [{ address: '198.51.100.20', family: 'IPv4', interface: 'eth0', mac: null }],
    agentVersion,
    capabilities,
    deviceTags: [],
  };
}

describe('web console: what each device can do', () => {
  const dirs: string[] = [];
  const suffix = randomBytes(3).toString('hex');
  const names = { ready: `ready-${suffix}`, noNft: `no-nft-${suffix}`, old: `old-agent-${suffix}` };
  const ids: Record<keyof typeof names, string> = { ready: '', noNft: '', old: '' };
  let bed: ConsoleBed;

  beforeAll(async () => {
    bed = await startConsoleBed('console-capabilities', dirs, { pageTimeoutMs: WAIT });
    const { agentUrl, enrollment } = bed;
    const sim = async (inv: Inventory) => {
      const dir = tempDir('console-capabilities-sim');
      dirs.push(dir);
      return (await enroll(agentUrl, enrollment, dir, inv)).machineId;
    };
    ids.ready = await sim(simInventory(names.ready, AGENT_VERSION, [{ name: 'inventory', version: '1' }, { name: 'isolation', version: '1', provider: 'nftables 1.0.6' }, { name: 'investigationPackage', version: '1' }]));
    ids.noNft = await sim(simInventory(names.noNft, AGENT_VERSION, [{ name: 'inventory', version: '1' }, { name: 'isolation', version: '1', unavailable: NO_NFT }, { name: 'investigationPackage', version: '1' }]));
    ids.old = await sim(simInventory(names.old, '0.1.0', [{ name: 'inventory', version: '1' }]));
  }, 120_000);

  afterAll(() => bed?.close(), 30_000);

  it("says in plain words why a device page's button is disabled", async () => {
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto(`/devices/${ids.noNft}`);
    const bar = page.getByTestId('action-bar');
    // A disabled button in the bar's row says why in its tooltip; one that did not fit the row, under its entry in "More actions".
    const reasonOf = async (action: string) => {
      const button = bar.locator(`[data-action="${action}"]`);
      if ((await button.count()) === 0) {
        await bar.getByRole('button', { name: 'More actions' }).click();
        const item = page.getByTestId('more-actions').locator(`[data-action="${action}"]`);
        await item.waitFor({ timeout: WAIT });
        expect(await item.getAttribute('aria-disabled')).toBe('true');
        const text = await item.locator('p, div').last().innerText();
        await page.keyboard.press('Escape');
        await page.getByTestId('more-actions').waitFor({ state: 'hidden', timeout: WAIT });
        return text;
      }
      expect(await button.getAttribute('aria-disabled')).toBe('true');
      await button.hover();
      const tip = await until(`the tooltip of ${action}`, () => button.getAttribute('aria-describedby'), WAIT);
      const text = await page.locator(`[id="${tip}"]`).innerText();
      await page.mouse.move(0, 0);
      return text;
    };
    await bar.locator('[data-action="ManageTags"]').waitFor();
    expect(await reasonOf('Isolate')).toBe(`Isolate device: not available on ${names.noNft}: ${NO_NFT}`);
    expect(await reasonOf('RunAntiVirusScan')).toBe("Run antivirus scan: this device's agent cannot scan yet");
    expect(await reasonOf('ConsultThreatExpert')).toBe('Consult a threat expert: this Cordon server does not offer it yet');
    await screenshot(page, 'console-capabilities-device');
    await page.goto(`/devices/${ids.old}`);
    await bar.locator('[data-action="ManageTags"]').waitFor();
    expect(await reasonOf('CollectInvestigationPackage')).toBe(`Collect investigation package: this device's agent (0.1.0) is too old; it needs 0.2.0 or later`);
    expect(t.problems()).toEqual([]);
  });

  it('lists what each device cannot do, and filters the devices that cannot be isolated', async () => {
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto('/devices');
    const table = page.getByTestId('devices-table');
    const row = (name: string) => table.locator('tr', { has: page.getByRole('link', { name, exact: true }) });
    const cannot = row(names.noNft).locator('[data-cannot="Isolate"]');
    await cannot.waitFor();
    expect(await cannot.innerText()).toBe('Isolate device');
    expect(await cannot.getAttribute('title')).toBe(`Isolate device: not available on ${names.noNft}: ${NO_NFT}`);
    expect(await row(names.noNft).locator('[data-cannot]').evaluateAll((els) => els.map((e) => e.getAttribute('data-cannot')))).toEqual(['RunAntiVirusScan', 'RestrictCodeExecution', 'Isolate']);
    expect(await row(names.ready).locator('[data-cannot="Isolate"]').count()).toBe(0);
    expect(await row(names.old).locator('[data-cannot]').count()).toBe(4);

    await page.getByTestId('device-filters').getByLabel('Cannot', { exact: true }).click();
    await page.getByRole('option', { name: 'Isolate device' }).click();
    await page.waitForURL((u) => u.searchParams.get('cannot') === 'Isolate');
    await until('only the devices that cannot be isolated', async () => (await table.locator('tbody tr').count()) === 2 && (await row(names.ready).count()) === 0, WAIT);
    expect(await row(names.noNft).count()).toBe(1);
    expect(await row(names.old).count()).toBe(1);
    await screenshot(page, 'console-capabilities-devices');

    await page.goto('/devices?can=CollectInvestigationPackage');
    await until('only the devices that can collect a package', async () => (await table.locator('tbody tr').count()) === 2 && (await row(names.old).count()) === 0, WAIT);
    expect(t.problems()).toEqual([]);
  });

  it('counts the devices that cannot be isolated on the dashboard, with why, and leads to them', async () => {
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto('/');
    const card = page.getByTestId('card-not-isolatable');
    await card.getByText(names.noNft, { exact: true }).waitFor();
    expect(await card.getByText(`not available on ${names.noNft}: ${NO_NFT}`).count()).toBe(1);
    expect(await card.getByText(names.old, { exact: true }).count()).toBe(1);
    expect(await card.getByText(names.ready, { exact: true }).count()).toBe(0);
    expect(await card.locator('.mantine-Badge-root').innerText()).toBe('2');
    await screenshot(page, 'console-capabilities-dashboard');
    await card.getByRole('link', { name: 'See all' }).click();
    await page.waitForURL((u) => u.pathname === '/devices' && u.searchParams.get('cannot') === 'Isolate');
    expect(t.problems()).toEqual([]);
  });

  it("finds the admin's actions by the start of the name, in any case", async () => {
    const a = await bed.api.submit(ids.ready, 'refreshInventory', { Comment: 'by token' });
    expect(a.requestor).toBe('admin');
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto('/actions?user=ADM');
    await page.locator('tbody tr', { hasText: names.ready }).waitFor();
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(t.problems()).toEqual([]);
  });
});
