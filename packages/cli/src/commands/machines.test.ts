import { startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';

describe('cordon machine', () => {
  let h: Harness;
  let conn: string[];
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.viewer];
    await h.enroll({
      hostname: 'no-nft',
      agentVersion: '0.2.0',
      capabilities: [
        { name: 'inventory', version: '1' },
        { name: 'isolation', version: '1', unavailable: 'nft is not installed (install the nftables package)' },
        { name: 'investigationPackage', version: '1' },
      ],
    });
  });
  afterAll(async () => {
    await h.close();
  });

  const cordon = (...args: string[]): Promise<string> => runCordon([...args, ...conn]);

  it('lists each capability as usable or not, with what the device lacks', async () => {
    const out = await cordon('machine', 'no-nft');
    expect(out).toMatch(/capabilities\s*│ inventory 1 — usable\s*│/);
    expect(out).toMatch(/│\s*│ isolation 1 — unavailable: nft is not installed \(install the nftables package\)\s*│/);
    expect(out).toMatch(/│\s*│ investigationPackage 1 — usable\s*│/);
    const json = JSON.parse(await cordon('machine', 'no-nft', '--json'));
    expect(json.unusableActions).toContainEqual({ action: 'Isolate', reason: 'Isolate device: not available on no-nft: nft is not installed (install the nftables package)' });
  });
});
