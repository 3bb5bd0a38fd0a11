/**
 * Restrict app execution in a real browser (Debian's chromium) against a real `cordon server`: a
 * device restricted from its page, Restricted shown with the guard's health and what is not
 * covered, a blocked start arriving as an alert on the device page and in the alerts queue, and
 * the restriction removed with "Remove app restrictions".
 *
 * The device is a scripted agent over the real gateway (TLS, credential, signed commands
 * delivered): it acknowledges each command and answers with the restriction report the real agent
 * sends, and sends a `blockedExecution` event as the real agent does when its guard refuses a
 * program. Nothing here restricts this machine. Screenshots land in
 * e2e/.artifacts/screenshots/console-restriction-*.png.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_VERSION, enroll } from '@cordon/agent';
import { PROTOCOL_VERSION, RESTRICTION_NOT_COVERED, type CommandPayload, type Inventory, type RestrictionReport } from '@cordon/protocol';
import { screenshot, startConsoleBed, type ConsoleBed } from './browser.js';
import { tempDir, until } from './helpers.js';

const WAIT = 30_000;

/** A device whose agent restricts app execution as told, over the real gateway; `blocked` reports a refused program start. */
class ScriptedAgent {
  report: RestrictionReport = { state: 'Unrestricted', since: null, guard: null, error: null, trusted: null };
  readonly commands: CommandPayload[] = [];
  #ws!: WebSocket;
  #beat?: NodeJS.Timeout;

  constructor(readonly inventory: Inventory) {}

  async connect(agentUrl: string, enrollment: string, dir: string): Promise<string> {
    const state = await enroll(agentUrl, enrollment, dir, this.inventory);
    await new Promise<void>((resolve, reject) => {
      this.#ws = new WebSocket(`${agentUrl.replace(/^https/, 'wss')}/agent/v1`, {
        ca: state.caCertPem,
        checkServerIdentity: (() => undefined) as unknown as () => boolean,
        headers: { authorization: `Bearer ${state.machineId}.${state.credential}` },
      });
      this.#ws.on('open', () => this.#send({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: this.#inventory() }));
      this.#ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string; heartbeatSeconds?: number; command?: { payload: string } };
        if (frame.type === 'welcome') {
          let seq = 0;
          this.#beat = setInterval(() => this.#send({ type: 'heartbeat', seq: seq++ }), Math.max(1, (frame.heartbeatSeconds ?? 30) / 2) * 1000);
          resolve();
        }
        if (frame.type === 'command' && frame.command) this.#run(JSON.parse(frame.command.payload) as CommandPayload);
      });
      this.#ws.on('error', reject);
    });
    return state.machineId;
  }

  /** What the real agent does: ack, apply, report the new state in its inventory and with its result. */
  #run(c: CommandPayload): void {
    this.commands.push(c);
    this.#send({ type: 'ack', actionId: c.actionId });
    if (c.type === 'RestrictCodeExecution') this.report = { state: 'Restricted', since: new Date().toISOString(), guard: 'running', error: null, trusted: { packageFiles: 41873, allowedHashes: 0 } };
    else if (c.type === 'UnrestrictCodeExecution') this.report = { state: 'Unrestricted', since: null, guard: null, error: null, trusted: null };
    else return this.#send({ type: 'result', actionId: c.actionId, status: 'Failed', error: `not scripted: ${c.type}`, result: null });
    this.#send({ type: 'inventory', inventory: this.#inventory() });
    this.#send({ type: 'result', actionId: c.actionId, status: 'Succeeded', error: null, result: { restriction: this.report, notCovered: RESTRICTION_NOT_COVERED, trusted: this.report.trusted } });
  }

  blocked(path: string): void {
    const name = path.slice(path.lastIndexOf('/') + 1);
    this.#send({
      type: 'event',
      eventId: randomUUID(),
      kind: 'blockedExecution',
      occurredAt: new Date().toISOString(),
      data: {
        title: `Blocked an untrusted program: ${path}`,
        severity: 'Low',
        detectionSource: 'ExecutionControl',
        evidence: [{ entityType: 'File', filePath: path.slice(0, path.lastIndexOf('/')), fileName: name, sha256: 'ab'.repeat(32), detectionStatus: 'Blocked' }],
      },
    });
  }

  /** The guard died and the agent is restarting it: the real agent says so in its next inventory. */
  guardRestarting(error: string): void {
    this.report = { ...this.report, guard: 'restarting', error };
    this.#send({ type: 'inventory', inventory: this.#inventory() });
  }

  close(): void {
    clearInterval(this.#beat);
    this.#ws?.close();
  }

  #inventory(): Inventory {
    return { ...this.inventory, restriction: this.report };
  }

  #send(frame: unknown): void {
    this.#ws.send(JSON.stringify(frame));
  }
}

describe('web console: restrict app execution', () => {
  const dirs: string[] = [];
  const name = `restrict-sim-${randomBytes(3).toString('hex')}`;
  let bed: ConsoleBed;
  let agent: ScriptedAgent;
  let id: string;

  beforeAll(async () => {
    bed = await startConsoleBed('console-restriction', dirs, { pageTimeoutMs: WAIT });
    agent = new ScriptedAgent({
      hostname: name,
      osPlatform: 'Linux',
      osVersion: 'Debian GNU/Linux 12 (bookworm)',
      osProcessor: 'x64',
      kernel: '6.1.0-sim',
      ipAddresses: [{ address: '198.51.100.30', family: 'IPv4', interface: 'eth0', mac: null }],
      agentVersion: AGENT_VERSION,
      capabilities: [{ name: 'inventory', version: '1' }, { name: 'executionControl', version: '1', provider: 'fanotify' }],
      deviceTags: [],
    });
    const dir = tempDir('console-restriction-sim');
    dirs.push(dir);
    id = await agent.connect(bed.agentUrl, bed.enrollment, dir);
    await bed.online(id);
  }, 120_000);

  afterAll(async () => {
    agent?.close();
    await bed?.close();
  }, 30_000);

  /** Opens an action's dialog from the bar's row, or from "More actions" when the row is full. */
  async function open(page: Page, action: string): Promise<void> {
    const bar = page.getByTestId('action-bar');
    await bar.locator('[data-action="ManageTags"]').waitFor();
    if ((await bar.locator(`[data-action="${action}"]`).count()) === 0) await bar.getByRole('button', { name: 'More actions' }).click();
    await page.locator(`[data-action="${action}"]:not([aria-disabled=true])`).click();
  }

  it('restricts a device, shows it restricted with what is not covered, raises a blocked start, and removes the restriction', async () => {
    const { page } = await bed.signedIn();
    await page.goto(`/devices/${id}`);
    await page.getByTestId('device-name').filter({ hasText: name }).waitFor();
    expect(await page.getByTestId('restriction-badge').count()).toBe(0);

    await open(page, 'RestrictCodeExecution');
    const dialog = page.getByRole('dialog', { name: `Restrict app execution — ${name}` });
    // What a restriction does not stop is said before anyone relies on it.
    await dialog.getByTestId('restriction-not-covered').filter({ hasText: 'memfd_create' }).waitFor();
    await screenshot(page, 'console-restriction-dialog');
    const submit = dialog.getByRole('button', { name: 'Restrict app execution', exact: true });
    expect(await submit.isDisabled()).toBe(true);
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('e2e: contain after the alert');
    await submit.click();
    await dialog.waitFor({ state: 'detached' });

    // The agent answered: Restricted, live, with the guard running, and the bar offers the reverse.
    await page.locator('[data-testid=restriction-badge][data-state=Restricted]').waitFor();
    const panel = page.getByTestId('restriction-panel');
    await panel.filter({ hasText: '41,873 package files' }).waitFor();
    expect(await panel.getAttribute('data-guard')).toBe('running');
    const bar = page.getByTestId('action-bar');
    if ((await bar.locator('[data-action="UnrestrictCodeExecution"]').count()) === 0) await bar.getByRole('button', { name: 'More actions' }).click();
    await page.locator('[data-action="UnrestrictCodeExecution"]', { hasText: 'Remove app restrictions' }).waitFor();
    expect(await page.locator('[data-action="RestrictCodeExecution"]').count()).toBe(0);
    await page.keyboard.press('Escape');
    expect(agent.commands.map((c) => c.type)).toEqual(['RestrictCodeExecution']);

    // A program refused on the device: an alert on the device page and in the queue.
    agent.blocked('/tmp/payload-e2e');
    await page.getByRole('tab', { name: 'Alerts' }).click();
    await page.getByTestId('device-alerts-table').getByTestId('alert-title').filter({ hasText: 'Blocked an untrusted program: /tmp/payload-e2e' }).waitFor();
    await screenshot(page, 'console-restriction-restricted');
    expect(await bed.api.alerts({ filter: `machineId eq '${id}'` })).toEqual([expect.objectContaining({ severity: 'Low', detectionSource: 'ExecutionControl' })]);
    await page.goto('/alerts');
    await page.getByTestId('alert-title').filter({ hasText: 'Blocked an untrusted program: /tmp/payload-e2e' }).waitFor();

    // The guard died: the page says enforcement has a gap, live, and the timeline keeps it.
    await page.goto(`/devices/${id}`);
    agent.guardRestarting('the exec guard exited (signal SIGKILL)');
    await page.locator('[data-testid=restriction-panel][data-guard=restarting]').waitFor();
    expect(await page.getByTestId('restriction-error').innerText()).toContain('the exec guard exited (signal SIGKILL)');
    expect(await page.getByTestId('restriction-badge').innerText()).toMatch(/guard restarting/i);
    await page.getByText('App restriction guard stopped; programs could start unchecked until it restarts: the exec guard exited (signal SIGKILL)').waitFor();
    await screenshot(page, 'console-restriction-guard-restarting');

    // Removed: Unrestricted again, and the bar offers the restriction.
    await open(page, 'UnrestrictCodeExecution');
    const undo = page.getByRole('dialog', { name: `Remove app restrictions — ${name}` });
    await undo.getByRole('textbox', { name: 'Comment' }).fill('e2e: all clear');
    await undo.getByRole('button', { name: 'Remove app restrictions', exact: true }).click();
    await undo.waitFor({ state: 'detached' });
    await page.getByTestId('restriction-badge').waitFor({ state: 'detached' });
    await page.getByTestId('restriction-panel').waitFor({ state: 'detached' });
    await until('the machine to be Unrestricted', async () => (await bed.api.machine(id)).restrictionState === 'Unrestricted', WAIT);
    expect(agent.commands.map((c) => c.type)).toEqual(['RestrictCodeExecution', 'UnrestrictCodeExecution']);
  });
});
