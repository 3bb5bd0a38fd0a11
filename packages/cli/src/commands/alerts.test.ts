import { startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';

describe('cordon alerts / alert', () => {
  let h: Harness;
  let conn: string[];
  let high: string;
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.analyst];
    const id = await h.enroll({ hostname: 'web-01' });
    const ingest = (body: unknown) => h.call('POST', '/api/alerts', { token: h.tokens.ingest, body });
    high = (await ingest({ machineId: id, title: 'Reverse shell', severity: 'High', evidence: [{ entityType: 'Process', processId: 7, processCommandLine: 'bash -i' }] })).body.id;
    await ingest({ computerDnsName: 'web-01', title: 'Port scan', severity: 'Low' });
    await ingest({ computerDnsName: 'not-enrolled', title: 'Miner', severity: 'Medium' });
  });
  afterAll(async () => {
    await h.close();
  });

  const cordon = (...args: string[]): Promise<string> => runCordon([...args, ...conn]);

  it('lists the queue, filtered by severity, status and device', async () => {
    const all = await cordon('alerts');
    expect(all).toContain('Reverse shell');
    expect(all).toContain('Miner');
    const some = await cordon('alerts', '--severity', 'high,low', '--machine', 'web-01', '--json');
    expect(JSON.parse(some).map((a: { title: string }) => a.title).sort()).toEqual(['Port scan', 'Reverse shell']);
    await expect(cordon('alerts', '--severity', 'huge')).rejects.toThrow(/--severity takes Informational, Low, Medium, High/);
  });

  it('shows one alert and changes its status, assignment and comments', async () => {
    expect(await cordon('alert', high)).toMatch(/evidence\s*│ Process: pid 7, bash -i/);
    const changed = JSON.parse(await cordon('alert', high, '--status', 'resolved', '--assign', 'ana', '--classification', 'TruePositive', '--comment', 'contained', '--json'));
    expect(changed).toMatchObject({ status: 'Resolved', assignedTo: 'ana', classification: 'TruePositive', comments: [{ comment: 'contained', createdBy: 'analyst-user' }] });
    expect((await h.call('GET', `/api/machines/${changed.machineId}`)).body.riskScore).toBe('Low');
    expect(JSON.parse(await cordon('alert', high, '--unassign', '--json')).assignedTo).toBeNull();
    await expect(cordon('alert', high, '--status', 'closed')).rejects.toThrow(/--status takes New, InProgress, Resolved/);
    await expect(cordon('alert', high, '--classification', 'Nope')).rejects.toThrow(/classification/i);
  });
});
