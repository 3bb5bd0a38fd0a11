import { inventory, startHarness, type Harness } from '@cordon/server/testing';
import { RESTRICTION_NOT_COVERED } from '@cordon/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';
import { restrictionSummary } from './action-results.js';

const restricted = { state: 'Restricted', since: '2026-11-25T10:00:00.000Z', guard: 'running', error: null, trusted: { packageFiles: 41000, allowedHashes: 2 } } as const;

describe('restrict and unrestrict against a real server', () => {
  let h: Harness;
  let conn: string[];
  let id: string;
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.admin];
    id = await h.enroll({ agentVersion: '0.2.0', capabilities: [{ name: 'executionControl', version: '1' }] });
    await h.enroll({ hostname: 'db-01', agentVersion: '0.2.0', capabilities: [{ name: 'executionControl', version: '1', unavailable: 'the agent does not run as root' }] });
  });
  afterAll(async () => {
    await h.close();
  });

  const cordon = (...args: string[]): Promise<string> => runCordon([...args, ...conn], { quiet: true });

  it('restricts, refuses a second action while one is in flight, shows the state and the guard, and removes it', async () => {
    await expect(cordon('restrict', 'web-01')).rejects.toThrow(/--comment/);
    const a = JSON.parse(await cordon('restrict', 'web-01', '--comment', 'contain', '--json'));
    expect(a).toMatchObject({ type: 'RestrictCodeExecution', status: 'Pending', machineId: id });
    expect(await cordon('machine', 'web-01')).toMatch(/restriction\s+│\s+Pending\s/);
    await expect(cordon('unrestrict', 'web-01', '--comment', 'too soon')).rejects.toThrow(/Action is already in progress/);

    await h.server.services.agentReports.agentResult(id, a.id, 'Succeeded', null, { restriction: restricted, notCovered: RESTRICTION_NOT_COVERED, trusted: restricted.trusted });
    expect(await cordon('machine', 'web-01')).toContain('Restricted (since 2026-11-25T10:00:00.000Z); remove with: cordon unrestrict web-01 --comment …');
    await h.server.services.machines.applyInventory(id, { ...inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'executionControl', version: '1' }] }), restriction: { ...restricted, guard: 'restarting', error: 'the exec guard exited' } });
    expect(await cordon('machine', 'web-01')).toContain('guard restarting: programs start unchecked until it is back; last error: the exec guard exited');

    const table = await cordon('unrestrict', 'web-01', '--comment', 'clean');
    expect(table).toContain('UnrestrictCodeExecution');
    expect(table).toContain('Pending');
  });

  it('says in one line why a device cannot be restricted', async () => {
    await expect(cordon('restrict', 'db-01', '--comment', 'contain')).rejects.toThrow(/^Restrict app execution: not available on db-01: the agent does not run as root$/);
    await expect(cordon('restrict', 'nope-99', '--comment', 'contain')).rejects.toThrow(/nope-99/);
  });
});

describe('restrictionSummary', () => {
  it('says what the guard trusts and what it does not cover', () => {
    const text = restrictionSummary({ restriction: restricted, notCovered: ['memfd'] })!;
    expect(text).toBe('Restricted since 2026-11-25T10:00:00.000Z: trusts 41,000 package files and 2 allowed hashes\nNot covered:\n- memfd\n');
    expect(restrictionSummary({ restriction: restricted })).toContain(RESTRICTION_NOT_COVERED[0]!);
    expect(restrictionSummary({ restriction: { state: 'Unrestricted', since: null, guard: null, error: null, trusted: null } })).toBe('Unrestricted\n');
    expect(restrictionSummary(null)).toBeNull();
  });
});
