import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';
import type { ChainedFields } from '../audit/chain.js';

let h: Harness;
let machine: string;
beforeEach(async () => {
  h = await startHarness();
  machine = await h.enroll();
  for (const tag of ['one', 'two', 'three', 'four']) expect((await h.call('POST', `/api/machines/${machine}/tags`, { body: { Value: tag, Action: 'Add' } })).status).toBe(200);
});
afterEach(async () => {
  await h.close();
});

const verify = async () => {
  const r = await h.call('GET', '/api/audit/verify');
  expect(r.status).toBe(200);
  return r.body as { verified: boolean; records: number; checkpoints: number; sinceLastCheckpoint: number; firstBroken: { seq: number; reason: string } | null };
};
const seqOf = async (action: string, tag: string) =>
  Number((await sql<{ seq: number }>`select seq from audit_log where action = ${action} and detail like ${`%"${tag}"%`}`.execute(h.server.db)).rows[0]!.seq);

describe('tamper-evident audit trail', () => {
  it('verifies an untouched trail, with and without checkpoints', async () => {
    const before = await verify();
    expect(before).toMatchObject({ verified: true, checkpoints: 0, firstBroken: null });
    expect(before.records).toBeGreaterThanOrEqual(5);
    await h.server.services.auditIntegrity.checkpoint();
    expect(await h.server.services.auditIntegrity.checkpoint()).toBeNull(); // nothing new since
    expect(await verify()).toMatchObject({ verified: true, checkpoints: 1, sinceLastCheckpoint: 0 });
    const list = await h.call('GET', '/api/audit?$top=1');
    expect(list.body.value[0]).toMatchObject({ seq: before.records, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('names an edited record', async () => {
    const seq = await seqOf('AddTag', 'two');
    await sql`update audit_log set actor = 'someone-else' where seq = ${seq}`.execute(h.server.db);
    expect((await verify()).firstBroken).toMatchObject({ seq, reason: expect.stringContaining('changed after it was written') });
  });

  it('names a record edited and re-hashed by someone who knows the scheme', async () => {
    const seq = await seqOf('AddTag', 'two');
    const row = (await sql<Record<string, unknown>>`select * from audit_log where seq = ${seq}`.execute(h.server.db)).rows[0]!;
    const { auditRecordHash } = await import('../audit/chain.js');
    const hash = auditRecordHash(row.prev_hash as string, { ...(row as object as ChainedFields), actor: 'someone-else', seq });
    await sql`update audit_log set actor = 'someone-else', hash = ${hash} where seq = ${seq}`.execute(h.server.db);
    expect((await verify()).firstBroken).toMatchObject({ seq, reason: expect.stringContaining(`record ${seq} was changed`) });
  });

  it('names a deleted record', async () => {
    const seq = await seqOf('AddTag', 'two');
    await sql`delete from audit_log where seq = ${seq}`.execute(h.server.db);
    expect((await verify()).firstBroken).toMatchObject({ seq, reason: expect.stringContaining(`record ${seq} is missing`) });
  });

  it('catches the last records deleted, even with the chain head moved back, once a checkpoint covers them', async () => {
    await h.server.services.auditIntegrity.checkpoint();
    const last = await seqOf('AddTag', 'four');
    await sql`delete from audit_log where seq = ${last}`.execute(h.server.db);
    expect((await verify()).firstBroken).toMatchObject({ seq: last, reason: expect.stringContaining('missing') });
    const prev = (await sql<{ hash: string }>`select hash from audit_log where seq = ${last - 1}`.execute(h.server.db)).rows[0]!.hash;
    await sql`update audit_chain set seq = ${last - 1}, hash = ${prev}`.execute(h.server.db);
    expect((await verify()).firstBroken).toMatchObject({ seq: last, reason: expect.stringContaining('signed checkpoint') });
  });

  it('catches a whole chain rewritten consistently, and a forged or altered checkpoint file', async () => {
    await h.server.services.auditIntegrity.checkpoint();
    // Rewrite every record from 2 on with fresh hashes: the chain is consistent, the checkpoint is not.
    const { auditRecordHash } = await import('../audit/chain.js');
    const rows = (await sql<Record<string, unknown>>`select * from audit_log order by seq`.execute(h.server.db)).rows;
    let prev = rows[0]!.hash as string;
    for (const r of rows.slice(1)) {
      const actor = r.seq === 2 ? 'someone-else' : (r.actor as string);
      const hash = auditRecordHash(prev, { ...(r as object as ChainedFields), actor, seq: Number(r.seq) });
      await sql`update audit_log set actor = ${actor}, prev_hash = ${prev}, hash = ${hash} where seq = ${r.seq}`.execute(h.server.db);
      prev = hash;
    }
    await sql`update audit_chain set hash = ${prev}`.execute(h.server.db);
    const last = rows.at(-1)!;
    expect((await verify()).firstBroken).toMatchObject({ seq: Number(last.seq), reason: expect.stringContaining('differs from the signed checkpoint') });

    const file = join(h.server.config.dataDir, 'audit', 'checkpoints.jsonl');
    const cp = JSON.parse(readFileSync(file, 'utf8').trim()) as { hash: string };
    writeFileSync(file, `${JSON.stringify({ ...cp, hash: prev })}\n`);
    expect((await verify()).firstBroken).toMatchObject({ reason: expect.stringContaining('not signed by this server') });
    writeFileSync(file, 'not json\n{}\n');
    expect((await verify()).firstBroken).toMatchObject({ reason: expect.stringContaining('line 1 of the checkpoint file') });
  });

  it('chains records written concurrently without forking', async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => h.call('POST', `/api/machines/${machine}/tags`, { body: { Value: `c${i}`, Action: 'Add' } })));
    expect(await verify()).toMatchObject({ verified: true });
  });

  it('writes a checkpoint at shutdown; only admins may verify', async () => {
    expect((await h.call('GET', '/api/audit/verify', { token: h.tokens.responder })).status).toBe(403);
    const dataDir = h.server.config.dataDir;
    await h.server.close();
    const lines = readFileSync(join(dataDir, 'audit', 'checkpoints.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    rmSync(dataDir, { recursive: true, force: true });
    h = await startHarness();
  });
});
