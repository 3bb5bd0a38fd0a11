import { startHarness, type Harness } from '@cordon/server/testing';
import { verifyReleaseToken } from '@cordon/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';
import { parseAllowArg } from './isolation.js';

describe('parseAllowArg', () => {
  it.each([
    ['10.0.0.0/8', { destination: '10.0.0.0/8' }],
    ['updates.example.com:443', { destination: 'updates.example.com:443' }],
    ['destination:10.1.2.3:22', { destination: '10.1.2.3:22' }],
    ['program:/usr/bin/ssh', { program: '/usr/bin/ssh' }],
    ['unit:sshd.service', { unit: 'sshd.service' }],
  ])('%s', (text, entry) => expect(parseAllowArg(text)).toEqual(entry));
});

describe('isolation commands against a real server', () => {
  let h: Harness;
  let conn: string[];
  let id: string;
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.admin];
    id = await h.enroll({ agentVersion: '0.2.0', capabilities: [{ name: 'isolation', version: '1' }] });
  });
  afterAll(async () => {
    await h.close();
  });

  /** Runs the CLI in-process; answers what it printed on stdout. */
  const cordon = (...args: string[]): Promise<string> => runCordon([...args, ...conn], { quiet: true });

  it('sets, shows and deletes policies, isolates Selective, refuses a release while isolating, and issues a token', async () => {
    const set = JSON.parse(await cordon('isolation-policy', 'set', '--allow', '10.0.0.0/8', 'unit:sshd.service', '--comment', 'baseline', '--json'));
    expect(set.allow).toEqual([{ destination: '10.0.0.0/8' }, { unit: 'sshd.service' }]);
    expect(await cordon('isolation-policy')).toContain('sshd.service');
    await expect(cordon('isolation-policy', 'set', '--allow', '10.0.0.0/33', '--comment', 'x')).rejects.toThrow(/Allow\.0\.destination/);
    await cordon('isolation-policy', 'set', '--tag', 'prod', '--allow', 'program:/usr/bin/ssh', '--comment', 'ops');
    expect(JSON.parse(await cordon('isolation-policy', 'show', '--all', '--json')).map((p: { tag: string | null }) => p.tag)).toEqual([null, 'prod']);
    expect(await cordon('isolation-policy', 'delete', '--tag', 'prod', '--comment', 'gone')).toBe("deleted the policy of tag 'prod'\n");
    await expect(cordon('isolation-policy', '--tag', 'prod')).rejects.toThrow(/was not found/);
    const effective = JSON.parse(await cordon('isolation-policy', '--machine', 'web-01', '--json'));
    expect(effective.allow.map((e: { from: string[] }) => e.from)).toEqual([['global'], ['global']]);

    const a = JSON.parse(await cordon('isolate', 'web-01', '--type', 'Selective', '--comment', 'contain', '--json'));
    expect(a).toMatchObject({ type: 'Isolate', scope: 'Selective', status: 'Pending', machineId: id });
    expect(await cordon('machines')).toContain('Pending');
    await expect(cordon('release', 'web-01', '--comment', 'too soon')).rejects.toThrow(/Action is already in progress/);
    await expect(cordon('isolate', 'web-01', '--type', 'Half', '--comment', 'x')).rejects.toThrow(/Allowed choices are Full, Selective/);

    const token = await cordon('release-token', 'web-01', '--comment', 'dr', '--hours', '2');
    expect(token).toMatch(/^crt1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    const v = verifyReleaseToken(token.trim(), h.server.keys.signingPublicKeyPem, id, h.clock.now());
    expect(v.ok && v.claims.expiresAt).toBe('2026-11-25T12:00:00.000Z');
    await expect(cordon('release-token', 'web-01', '--comment', 'dr', '--hours', 'two')).rejects.toThrow(/whole number/);

    await h.server.services.agentReports.agentResult(id, a.id, 'Succeeded', null, null);
    expect(await cordon('machine', 'web-01')).toContain('Isolated (Selective since 2026-11-25T10:00:00.000Z); release with: cordon release web-01');
    const r = JSON.parse(await cordon('release', 'web-01', '--comment', 'clean', '--json'));
    expect(r).toMatchObject({ type: 'Unisolate', status: 'Pending' });
  });
});
