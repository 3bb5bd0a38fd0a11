import { describe, expect, it } from 'vitest';
import { RevocationSignal } from '../events.js';
import type { CredentialsRepository, TokenRow } from '../repositories/credentials.repository.js';
import { AuthService } from './auth.service.js';

const row: TokenRow = { id: 't1', name: 'sender', role: 'ingest', token_hash: 'h', kind: 'api', app_id: null, created_at: '2026-11-30T00:00:00.000Z', expires_at: null, revoked_at: null, revoked_by: null, created_by: 'admin', last_used_at: '2026-11-30T12:00:00.000Z' };

/** A store whose token lookups answer when the test says so, counting them. */
function slowStore() {
  const pending: ((r: TokenRow) => void)[] = [];
  const repo = { tokenByHash: () => new Promise<TokenRow>((resolve) => pending.push(resolve)), touchToken: async () => undefined } as unknown as CredentialsRepository;
  return { repo, pending };
}

describe('remembering verified tokens', () => {
  it('does not remember a lookup that was under way when a revocation happened', async () => {
    const { repo, pending } = slowStore();
    const signal = new RevocationSignal();
    const auth = new AuthService(repo, null as never, null as never, () => new Date('2026-11-30T12:00:30.000Z'), 3600, signal);
    const first = auth.authenticate('cdn_x');
    await Promise.resolve();
    expect(pending).toHaveLength(1);
    // Revoked while the store was being asked: the answer (from before) is used once, not kept.
    signal.revoked();
    pending[0]!(row);
    await first;
    const second = auth.authenticate('cdn_x');
    await Promise.resolve();
    expect(pending).toHaveLength(2);
    pending[1]!(row);
    await second;
    // Asked with no revocation meanwhile: remembered.
    await auth.authenticate('cdn_x');
    expect(pending).toHaveLength(2);
  });
});
