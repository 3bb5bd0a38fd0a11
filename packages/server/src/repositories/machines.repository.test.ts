import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../db/database.js';
import { openTestStore, STORES } from '../testing/stores.js';
import { MachinesRepository } from './machines.repository.js';

/** What a machine's restriction state follows from, the same on SQLite and PostgreSQL. */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const T = '2026-12-10T10:00:00.000Z';
const TYPES = ['RestrictCodeExecution', 'UnrestrictCodeExecution'] as const;
const REPORT = JSON.stringify({ state: 'Restricted', since: T, guard: 'running', error: null, trusted: { packageFiles: 3, allowedHashes: 0 } });

async function addMachine(db: Db, id: string, restriction: string | null): Promise<void> {
  await db
    .insertInto('machines')
    .values({ id, computer_dns_name: id, first_seen: T, last_seen: T, os_platform: 'Linux', os_version: '12', os_processor: 'x64', kernel: '6', agent_version: '0.2.0', last_ip_address: null, last_external_ip_address: null, ip_addresses: '[]', capabilities: '[]', aad_device_id: null, credential_hash: 'x', isolation: null, restriction, enrolled_at: T, credential_revoked_at: null, credential_revoked_by: null, credential_in_use_twice_at: null })
    .execute();
}

async function addAction(db: Db, id: string, machineId: string, type: string, status: string): Promise<void> {
  await db
    .insertInto('actions')
    .values({ id, machine_id: machineId, type, scope: null, parameters: '{}', requestor: 'alice', requestor_comment: 'c', status, created_at: T, updated_at: T, expires_at: T, delivered_at: null, cancellation_requestor: null, cancellation_comment: null, cancellation_at: null, error: null, error_hresult: 0, result: null, signed_payload: '{}', signature: 's', signature_proof: null, key_id: 'k', exclusive_key: `${id}-key` })
    .execute();
}

describe.each(STORES)('machines repository: restriction (%s)', (kind) => {
  it('answers the report of each machine, state and whether a restrict or unrestrict is active, and sets the state', async () => {
    const s = await openTestStore(kind);
    closers.push(s.close);
    const repo = new MachinesRepository(s.db);
    await addMachine(s.db, 'm1', REPORT);
    await addMachine(s.db, 'm2', null);
    await addMachine(s.db, 'm3', null);
    await addAction(s.db, 'a1', 'm1', 'UnrestrictCodeExecution', 'InProgress');
    // Ended ones, or actions of other types, do not make a machine busy.
    await addAction(s.db, 'a2', 'm2', 'RestrictCodeExecution', 'Succeeded');
    await addAction(s.db, 'a3', 'm3', 'Isolate', 'Pending');
    const inputs = async () => (await repo.restrictionInputs(['m1', 'm2', 'm3', 'nope'], TYPES)).sort((a, b) => a.id.localeCompare(b.id));
    expect(await inputs()).toEqual([
      { id: 'm1', restriction: REPORT, restriction_state: 'Unrestricted', busy: true },
      { id: 'm2', restriction: null, restriction_state: 'Unrestricted', busy: false },
      { id: 'm3', restriction: null, restriction_state: 'Unrestricted', busy: false },
    ]);
    await repo.setRestrictionState(['m1', 'm3'], 'Pending');
    expect((await inputs()).map((m) => m.restriction_state)).toEqual(['Pending', 'Unrestricted', 'Pending']);
    expect((await repo.get('m1'))?.restriction).toBe(REPORT);
  });
});
