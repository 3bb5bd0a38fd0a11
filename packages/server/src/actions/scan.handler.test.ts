/**
 * A scan's detections link to their alerts when the action is read: also when the detection events
 * reach the server after the result, and with one look-up for a whole page of actions. A cancel
 * stops a running scan, and the scan then stays Cancelled.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let machineId: string;
beforeAll(async () => {
  h = await startHarness();
  machineId = await h.enroll({ hostname: 'scanned-01', agentVersion: '0.2.0', capabilities: [{ name: 'antivirusScan', version: '1' }, { name: 'inventory', version: '1' }, { name: 'investigationPackage', version: '1' }] });
});
afterAll(async () => h.close());

/** A scan that Succeeded with these detections listed (as the agent reports them). */
async function finishedScan(eventIds: string[]): Promise<string> {
  const submitted = await h.call('POST', `/api/machines/${machineId}/runAntiVirusScan`, { body: { Comment: 'sweep', ScanType: 'Quick' } });
  expect(submitted.status).toBe(201);
  const detectionList = eventIds.map((eventId, i) => ({ path: `/tmp/x${i}`, threat: 'EICAR_Test_File', engine: 'yara', source: 'builtin', severity: 'High', sha256: 'a'.repeat(64), eventId }));
  await h.server.services.agentReports.agentResult(machineId, submitted.body.id, 'Succeeded', null, { scanType: 'Quick', files: 3, detections: eventIds.length, detectionList });
  return submitted.body.id as string;
}

const detect = (eventId: string) =>
  h.server.services.alerts.accept(machineId, { type: 'event', eventId, kind: 'detection', occurredAt: h.clock.now().toISOString(), data: { title: "'EICAR_Test_File' threat was detected", severity: 'High', threatName: 'EICAR_Test_File' } });

describe('a scan result links each detection to its alert', () => {
  it('says null until the detection event arrives (after the result), then the alert id', async () => {
    const [first, late] = [randomUUID(), randomUUID()];
    await detect(first);
    const id = await finishedScan([first, late]);
    const before = (await h.call('GET', `/api/machineactions/${id}`)).body;
    const firstAlert = (await h.call('GET', `/api/alerts?$filter=machineId eq '${machineId}'`)).body.value[0];
    expect(before.result.detectionList.map((d: { alertId: unknown }) => d.alertId)).toEqual([firstAlert.id, null]);

    await detect(late);
    const after = (await h.call('GET', `/api/machineactions/${id}`)).body;
    const alerts = (await h.call('GET', `/api/alerts?$filter=machineId eq '${machineId}'`)).body.value as { id: string }[];
    const lateAlert = alerts.find((a) => a.id !== firstAlert.id)!;
    expect(after.result.detectionList.map((d: { alertId: unknown }) => d.alertId)).toEqual([firstAlert.id, lateAlert.id]);
    // The alert page it links to is the detection's.
    expect((await h.call('GET', `/api/alerts/${lateAlert.id}`)).body.threatName).toBe('EICAR_Test_File');
  });

  it('looks the alerts of a whole page up at once, and leaves other actions alone', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const e of ids) await detect(e);
    await finishedScan([ids[0]!]);
    await finishedScan([ids[1]!, ids[2]!]);
    const refresh = await h.call('POST', `/api/machines/${machineId}/refreshInventory`, { body: { Comment: 'x' } });
    expect(refresh.status).toBe(201);
    await h.server.services.agentReports.agentResult(machineId, refresh.body.id, 'Succeeded', null, { detectionList: [{ eventId: ids[0] }] });
    const lookups = vi.spyOn(h.server.services.alerts, 'alertIdsOfAgentEvents');
    try {
      const page = (await h.call('GET', `/api/machineactions?$filter=machineId eq '${machineId}'`)).body.value as { type: string; result: { detectionList?: { alertId: string | null }[] } | null }[];
      expect(lookups).toHaveBeenCalledTimes(1);
      const linked = page.filter((a) => a.type === 'RunAntiVirusScan').flatMap((a) => a.result?.detectionList ?? []);
      expect(linked).toHaveLength(5);
      expect(linked.every((d) => typeof d.alertId === 'string')).toBe(true);
      // Only a scan's result is a scan's: another action's is answered as stored.
      expect(page.find((a) => a.type === 'RefreshInventory')?.result).toEqual({ detectionList: [{ eventId: ids[0] }] });
    } finally {
      lookups.mockRestore();
    }
  });
});

describe('a cancelled scan', () => {
  const submit = async (path: string, body: Record<string, unknown> = {}) => {
    const r = await h.call('POST', `/api/machines/${machineId}/${path}`, { body: { Comment: 'x', ...body } });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };
  const status = async (id: string) => {
    const a = (await h.call('GET', `/api/machineactions/${id}`)).body;
    return [a.status, a.error];
  };
  const cancel = async (id: string) => expect((await h.call('POST', `/api/machineactions/${id}/cancel`, { body: { Comment: 'stop' } })).status).toBe(200);

  it('stays Cancelled when the agent reports that the cancel stopped it', async () => {
    const id = await submit('runAntiVirusScan', { ScanType: 'Full' });
    await h.server.services.agentReports.agentAck(machineId, id);
    await cancel(id);
    await h.server.services.agentReports.agentResult(machineId, id, 'Failed', 'cancelled by the server', null);
    expect(await status(id)).toEqual(['Cancelled', null]);
  });

  it('stays Cancelled when its start is reported after a cancel while Pending (the cancel stops it there)', async () => {
    const id = await submit('runAntiVirusScan', { ScanType: 'Quick' });
    await cancel(id);
    await h.server.services.agentReports.agentAck(machineId, id);
    expect(await status(id)).toEqual(['Cancelled', null]);
    // Another action, which a cancel cannot stop once started, keeps running: its outcome is real.
    const pkg = await submit('collectInvestigationPackage');
    await cancel(pkg);
    await h.server.services.agentReports.agentAck(machineId, pkg);
    expect(await status(pkg)).toEqual(['InProgress', null]);
    await h.server.services.agentReports.agentResult(machineId, pkg, 'Failed', 'no room', null);
  });

  it('keeps its result when it finished before the cancel reached the device', async () => {
    const id = await submit('runAntiVirusScan', { ScanType: 'Quick' });
    await h.server.services.agentReports.agentAck(machineId, id);
    await cancel(id);
    await h.server.services.agentReports.agentResult(machineId, id, 'Succeeded', null, { scanType: 'Quick', files: 1, detections: 0, detectionList: [] });
    expect(await status(id)).toEqual(['Succeeded', null]);
  });
});
