import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localInventory } from '../agent.js';
import { IndicatorSet } from '../content/indicators.js';
import { fakePlatform } from '../testing/fake-platform.js';
import { createModules, moduleList, type AgentModule } from './index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-modules-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const indicators = new IndicatorSet({ load: () => null });
const enrollment = { serverUrls: ['https://10.9.9.9:8443'], machineId: 'a'.repeat(40), credential: 'x'.repeat(20), caCertPem: '', signingPublicKeyPem: '', enrolledAt: '2026-01-01T00:00:00.000Z' };

describe('agent modules', () => {
  it('builds every registered module under its own name', () => {
    const modules = createModules({ dataDir: dir, platform: fakePlatform().platform, enrollment, config: { isolationConfirmSeconds: 1 }, logger: pino({ level: 'silent' }), indicators, reportEvent: () => undefined, reportChanged: () => undefined });
    expect(moduleList(modules).map((m) => m.name)).toEqual(Object.keys(modules));
    expect(modules.isolation.name).toBe('isolation');
  });

  it("merges each module's report into the inventory, failing closed on a damaged isolation journal", async () => {
    const { platform } = fakePlatform();
    const modules = moduleList(createModules({ dataDir: dir, platform, enrollment, config: { isolationConfirmSeconds: 1 }, logger: pino({ level: 'silent' }), indicators, reportEvent: () => undefined, reportChanged: () => undefined }));
    expect((await localInventory([], platform, modules)).isolation).toEqual({ state: 'NotIsolated', type: null, since: null, releasedBy: null });
    writeFileSync(join(dir, 'isolation.json'), '{"state":');
    expect((await localInventory([], platform, modules)).isolation).toMatchObject({ state: 'Isolated', type: 'Full' });
    const other: AgentModule = { name: 'other', restore: async () => {}, check: async () => false, report: () => ({}), stop: async () => {} };
    expect(await localInventory(['t'], platform, [other])).not.toHaveProperty('isolation');
  });
});
