import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

// Scan policies against a real server and store (SQLite, and PostgreSQL in the postgres project).
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const scanner = () => h.enroll({ agentVersion: '0.2.0', capabilities: [{ name: 'antivirusScan', version: '1' }] });
const scan = (id: string, body: Record<string, unknown> = {}) => h.call('POST', `/api/machines/${id}/runAntiVirusScan`, { body: { Comment: 'check', ScanType: 'Quick', ...body } });
const tag = (id: string, value: string) => h.call('POST', `/api/machines/${id}/tags`, { body: { Value: value, Action: 'Add' } });

describe('scan policies', () => {
  it("sign a device's CPU share into its scans: the lowest of its tags' policies, else the global one, else none (the agent's 50 %)", async () => {
    const [plain, web, both] = [await scanner(), await scanner(), await scanner()];
    await tag(web, 'web');
    await tag(both, 'web');
    await tag(both, 'db');
    const shareOf = async (id: string, body: Record<string, unknown> = {}) => {
      const r = await scan(id, body);
      expect(r.status).toBe(201);
      await h.call('POST', `/api/machineactions/${r.body.id}/cancel`, { body: { Comment: 'done looking' } });
      return r.body.parameters.cpuPercent;
    };
    expect(await shareOf(plain)).toBeUndefined();

    expect((await h.call('PUT', '/api/scanPolicies/global', { body: { CpuPercent: 40 } })).body).toMatchObject({ scope: 'global', tag: null, cpuPercent: 40, updatedBy: 'admin' });
    expect((await h.call('PUT', '/api/scanPolicies/tags/web', { body: { CpuPercent: 30, Comment: 'busy front ends' } })).status).toBe(200);
    expect((await h.call('PUT', '/api/scanPolicies/tags/db', { body: { CpuPercent: 10 } })).status).toBe(200);
    expect(await shareOf(plain)).toBe(40);
    expect(await shareOf(web)).toBe(30);
    expect(await shareOf(both)).toBe(10);
    // The analyst's own share wins.
    expect(await shareOf(both, { CpuPercent: 75 })).toBe(75);

    expect((await h.call('GET', '/api/scanPolicies')).body.value.map((p: { scope: string; tag: string | null; cpuPercent: number }) => [p.scope, p.tag, p.cpuPercent])).toEqual([
      ['global', null, 40],
      ['tag', 'db', 10],
      ['tag', 'web', 30],
    ]);
    expect((await h.call('DELETE', '/api/scanPolicies/tags/db?comment=gone')).status).toBe(204);
    expect(await shareOf(both)).toBe(30);
    expect((await h.call('GET', '/api/scanPolicies/tags/db')).status).toBe(404);
    expect((await h.server.services.audit.list(20, 0)).filter((a) => a.targetType === 'scanPolicy').map((a) => [a.action, a.targetId])).toContainEqual(['SetScanPolicy', 'tag:web']);
  });

  it('refuses a share out of range and lets only admins set policies', async () => {
    const r = await h.call('PUT', '/api/scanPolicies/global', { body: { CpuPercent: 150 } });
    expect([r.status, r.body.error.message]).toEqual([400, "CpuPercent: must be 5 to 100 (percent of the device's CPU)"]);
    expect((await h.call('PUT', '/api/scanPolicies/global', { body: { CpuPercent: 20 }, token: h.tokens.responder })).status).toBe(403);
    expect((await h.call('GET', '/api/scanPolicies', { token: h.tokens.viewer })).status).toBe(200);
  });
});
