import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Migration } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrate } from './database.js';
import * as initial from './migrations/20261125000000_initial.js';
import * as isolation from './migrations/20261125120000_isolation.js';
import type { Database } from './schema.js';

const provider = (m: Record<string, Migration>) => ({ getMigrations: async () => m });

/** A store as the previous release left it: only the initial migration, with data in it. */
async function previousRelease(): Promise<Kysely<Database>> {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
  const r = await new Migrator({ db, provider: provider({ '20261125000000_initial': initial }) }).migrateToLatest();
  if (r.error) throw r.error;
  const t = '2026-11-25T09:00:00.000Z';
  await sql`insert into machines (id, computer_dns_name, first_seen, last_seen, os_platform, os_version, os_processor, kernel, agent_version, ip_addresses, capabilities, credential_hash, enrolled_at)
    values (${'a'.repeat(40)}, 'web-01', ${t}, ${t}, 'Linux', '12', 'x64', '6.1', '0.1.0', '[]', '[]', 'h', ${t})`.execute(db);
  for (const [id, type, status] of [
    ['00000000-0000-4000-8000-000000000001', 'RefreshInventory', 'Pending'],
    ['00000000-0000-4000-8000-000000000002', 'Isolate', 'Succeeded'],
  ]) {
    await sql`insert into actions (id, machine_id, type, parameters, requestor, requestor_comment, status, created_at, updated_at, expires_at, signed_payload, signature, key_id)
      values (${id}, ${'a'.repeat(40)}, ${type}, '{}', 'admin', 'x', ${status}, ${t}, ${t}, ${t}, 'p', 's', 'k')`.execute(db);
  }
  return db;
}

describe('isolation migration', () => {
  it('upgrades an existing store: keys backfilled, new columns and tables, exclusion by key', async () => {
    const db = await previousRelease();
    await migrate(db);
    const actions = await db.selectFrom('actions').select(['type', 'exclusive_key']).orderBy('id').execute();
    expect(actions).toEqual([
      { type: 'RefreshInventory', exclusive_key: 'RefreshInventory' },
      { type: 'Isolate', exclusive_key: 'Isolate' },
    ]);
    expect((await db.selectFrom('machines').select(['isolation', 'isolation_state']).executeTakeFirstOrThrow())).toEqual({ isolation: null, isolation_state: 'NotIsolated' });
    expect(await db.selectFrom('isolation_policies').selectAll().execute()).toEqual([]);
    expect(await db.selectFrom('release_tokens').selectAll().execute()).toEqual([]);

    // One active action per machine and key: an Unisolate conflicts with an active Isolate.
    const row = (id: string, type: string, key: string) => ({
      id, machine_id: 'a'.repeat(40), type, scope: null, parameters: '{}', requestor: 'admin', requestor_comment: 'x', status: 'Pending',
      created_at: 't', updated_at: 't', expires_at: 't', delivered_at: null, cancellation_requestor: null, cancellation_comment: null, cancellation_at: null,
      error: null, error_hresult: 0, result: null, signed_payload: 'p', signature: 's', signature_proof: null, key_id: 'k', exclusive_key: key,
    });
    await db.insertInto('actions').values(row('00000000-0000-4000-8000-000000000003', 'Isolate', 'Isolation')).execute();
    await expect(db.insertInto('actions').values(row('00000000-0000-4000-8000-000000000004', 'Unisolate', 'Isolation')).execute()).rejects.toThrow(/UNIQUE/);
    // The old per-type index is gone: two keys of one type may differ.
    await db.insertInto('actions').values(row('00000000-0000-4000-8000-000000000005', 'RefreshInventory', 'Other')).execute();
    await db.destroy();
  });

  it('rolls back cleanly', async () => {
    const db = await previousRelease();
    await migrate(db);
    await isolation.down(db as unknown as Kysely<unknown>);
    const tables = (await db.introspection.getTables()).map((t) => t.name);
    expect(tables).not.toContain('isolation_policies');
    expect(tables).not.toContain('release_tokens');
    expect((await db.introspection.getTables()).find((t) => t.name === 'actions')!.columns.map((c) => c.name)).not.toContain('exclusive_key');
    await db.destroy();
  });
});

describe('audit chain migration', () => {
  it('chains the records an earlier release wrote, in the order written, and verification holds', async () => {
    const db = await previousRelease();
    for (const [i, action] of ['Enroll', 'AddTag', 'Isolate'].entries()) {
      await sql`insert into audit_log (time, actor, action, target_type, target_id, comment, outcome, detail) values (${`2026-11-25T09:0${i}:00.000Z`}, 'admin', ${action}, 'machine', ${'a'.repeat(40)}, null, 'Succeeded', null)`.execute(db);
    }
    await migrate(db);
    const rows = await db.selectFrom('audit_log').select(['seq', 'action', 'prev_hash', 'hash']).orderBy('id').execute();
    expect(rows.map((r) => [r.seq, r.action])).toEqual([[1, 'Enroll'], [2, 'AddTag'], [3, 'Isolate']]);
    expect(rows[1]!.prev_hash).toBe(rows[0]!.hash);
    expect(await db.selectFrom('audit_chain').selectAll().executeTakeFirst()).toEqual({ id: 1, seq: 3, hash: rows[2]!.hash });
    const { AuditRepository } = await import('../repositories/audit.repository.js');
    const { AuditIntegrityService } = await import('../services/audit-integrity.service.js');
    const signer = { keyId: 'k', sign: () => { throw new Error('unused'); }, verify: () => true };
    const integrity = new AuditIntegrityService(new AuditRepository(db), { append: async () => undefined, last: async () => null, read: async () => ({ checkpoints: [], badLine: null }) }, signer as never, () => new Date());
    expect(await integrity.verify()).toMatchObject({ verified: true, records: 3 });
    // New records continue the chain.
    await new AuditRepository(db).insert({ time: '2026-11-29T00:00:00.000Z', actor: 'admin', action: 'AddTag', target_type: 'machine', target_id: 'x', comment: null, outcome: 'Succeeded', detail: null });
    expect(await integrity.verify()).toMatchObject({ verified: true, records: 4 });
    await db.destroy();
  });
});

describe('revocation migration', () => {
  it('keeps existing credentials valid, with nothing revoked and no last use yet, and rolls back cleanly', async () => {
    const db = await previousRelease();
    const t = '2026-11-25T09:00:00.000Z';
    await sql`insert into tokens (id, name, role, token_hash, kind, app_id, created_at, expires_at, revoked_at) values ('t1', 'ci', 'viewer', 'h1', 'api', null, ${t}, null, null)`.execute(db);
    await sql`insert into apps (client_id, name, role, secret_hash, created_at) values ('c1', 'soar', 'viewer', 'h2', ${t})`.execute(db);
    await sql`insert into enrollment_tokens (id, token_hash, created_at, expires_at, created_by) values ('e1', 'h3', ${t}, ${t}, 'admin')`.execute(db);
    await migrate(db);
    expect(await db.selectFrom('tokens').select(['id', 'created_by', 'last_used_at', 'revoked_at', 'revoked_by']).execute()).toEqual([{ id: 't1', created_by: null, last_used_at: null, revoked_at: null, revoked_by: null }]);
    expect(await db.selectFrom('apps').select(['client_id', 'created_by', 'last_used_at', 'revoked_at', 'revoked_by']).execute()).toEqual([{ client_id: 'c1', created_by: null, last_used_at: null, revoked_at: null, revoked_by: null }]);
    expect(await db.selectFrom('enrollment_tokens').select(['id', 'last_used_at', 'revoked_at', 'revoked_by']).execute()).toEqual([{ id: 'e1', last_used_at: null, revoked_at: null, revoked_by: null }]);
    expect(await db.selectFrom('machines').select(['credential_revoked_at', 'credential_revoked_by']).execute()).toEqual([{ credential_revoked_at: null, credential_revoked_by: null }]);
    const { down } = await import('./migrations/20261130120000_revocation.js');
    await down(db as unknown as Kysely<unknown>);
    const columns = async (table: string) => (await db.introspection.getTables()).find((x) => x.name === table)!.columns.map((c) => c.name);
    expect(await columns('apps')).toEqual(['client_id', 'name', 'role', 'secret_hash', 'created_at']);
    expect(await columns('machines')).not.toContain('credential_revoked_at');
    await db.destroy();
  });
});
