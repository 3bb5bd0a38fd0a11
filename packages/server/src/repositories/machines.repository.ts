import { sql, type Expression, type SqlBool, type ExpressionBuilder, type Selectable, type Insertable, type Updateable } from 'kysely';
import { atomically, type Db } from '../db/database.js';
import { compileFilter, compileList, type FieldMap, type ListParams, type OrderKey } from '../odata/compile.js';
import type { Database, MachinesTable } from '../db/schema.js';
import { ACTION_CATALOG } from '@cordon/protocol';

export type MachineRow = Selectable<MachinesTable>;

/** An enforcement the agent reports: its last report is the machines column of that name, the state derived from it `<name>_state`. */
export type Enforcement = 'isolation' | 'restriction';
/** What a machine's enforcement state follows from: the stored report and state, and whether an action of its types is active. */
export type EnforcementInputs<E extends Enforcement> = { id: string; busy: boolean } & { [K in E]: string | null } & { [K in `${E}_state`]: string };

const RISK_SEVERITY = sql<number>`case machines.risk_score when 'Informational' then 1 when 'Low' then 2 when 'Medium' then 3 when 'High' then 4 else 0 end`;

/**
 * The fields of the machines list's `$filter` and `$orderby`. `activeSince` decides healthStatus:
 * a device is Active while seen since then.
 */
function machineFields(activeSince: string, actionTypes: readonly string[]): FieldMap {
  return {
    // Cordon: what each device's agent can run now (services/readiness.ts keeps the column).
    usableActions: { kind: 'names', column: 'machines.usable_actions', values: actionTypes },
    unusableActions: { kind: 'names', column: 'machines.usable_actions', values: actionTypes, negate: true },
    id: { kind: 'text', column: 'machines.id' },
    computerDnsName: { kind: 'text', column: 'machines.computer_dns_name' },
    lastIpAddress: { kind: 'text', column: 'machines.last_ip_address' },
    lastExternalIpAddress: { kind: 'text', column: 'machines.last_external_ip_address' },
    osPlatform: { kind: 'text', column: 'machines.os_platform' },
    osVersion: { kind: 'text', column: 'machines.os_version' },
    agentVersion: { kind: 'text', column: 'machines.agent_version' },
    riskScore: { kind: 'text', column: 'machines.risk_score', values: ['None', 'Informational', 'Low', 'Medium', 'High'] },
    exposureLevel: { kind: 'text', column: 'machines.exposure_level', values: ['None', 'Low', 'Medium', 'High'] },
    isolationState: { kind: 'text', column: 'machines.isolation_state', values: ['NotIsolated', 'Isolated', 'Pending'] },
    restrictionState: { kind: 'text', column: 'machines.restriction_state', values: ['Unrestricted', 'Restricted', 'Pending'] },
    aadDeviceId: { kind: 'text', column: 'machines.aad_device_id' },
    lastSeen: { kind: 'datetime', column: 'machines.last_seen' },
    firstSeen: { kind: 'datetime', column: 'machines.first_seen' },
    machineTags: { kind: 'tags', machineIdColumn: 'machines.id' },
    ipAddresses: { kind: 'ips', machineIdColumn: 'machines.id' },
    healthStatus: {
      kind: 'derived',
      values: ['Active', 'Inactive'],
      build: (op, value): Expression<SqlBool> => {
        const active = (value === 'Active') === (op === 'eq');
        return active ? sql<SqlBool>`machines.last_seen >= ${activeSince}` : sql<SqlBool>`machines.last_seen < ${activeSince}`;
      },
    },
  };
}

export type MachineWhere = (eb: ExpressionBuilder<Database, 'machines'>) => Expression<SqlBool>;
export interface TagRow {
  machine_id: string;
  tag: string;
  source: string;
}

export class MachinesRepository {
  /** `actionTypes`: the catalog's, which `usableActions` filters name. */
  constructor(
    private readonly db: Db,
    private readonly actionTypes: readonly string[] = ACTION_CATALOG.types(),
  ) {}

  async insert(row: Insertable<MachinesTable>): Promise<void> {
    await this.db.insertInto('machines').values(row).execute();
  }

  async get(id: string): Promise<MachineRow | undefined> {
    return this.db.selectFrom('machines').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async getMany(ids: string[]): Promise<MachineRow[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom('machines').selectAll().where('id', 'in', ids).execute();
  }

  /** What deciding whether a machine can take an action needs, without the rest of the row. */
  async eligibility(ids: string[]): Promise<Pick<MachineRow, 'id' | 'computer_dns_name' | 'capabilities' | 'agent_version'>[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom('machines').select(['id', 'computer_dns_name', 'capabilities', 'agent_version']).where('id', 'in', ids).execute();
  }

  /** What each machine's agent reported it can do, and what was derived from it (see MachinesService.refreshReadiness). */
  async abilities(): Promise<Pick<MachineRow, 'id' | 'computer_dns_name' | 'capabilities' | 'agent_version' | 'usable_actions'>[]> {
    return this.db.selectFrom('machines').select(['id', 'computer_dns_name', 'capabilities', 'agent_version', 'usable_actions']).execute();
  }

  /** Ids of the machines a `$filter` selects (bulk actions by tag or any other field). */
  async idsMatching(filter: string, limit: number, activeSince: string): Promise<string[]> {
    const where = compileFilter(filter, machineFields(activeSince, this.actionTypes));
    return (await this.db.selectFrom('machines').select('id').where(where).orderBy('id').limit(limit).execute()).map((r) => r.id);
  }

  /** One page of the machines list (`$filter`, `$orderby`, `$top`, `$skip`, `$count`). */
  async page(q: ListParams, activeSince: string): Promise<{ rows: MachineRow[]; count?: number }> {
    // Risk sorts by severity, health by when the device was last seen (what decides it).
    const { where, order } = compileList(q, machineFields(activeSince, this.actionTypes), { riskScore: RISK_SEVERITY, healthStatus: sql.ref('machines.last_seen') });
    const [rows, count] = await Promise.all([this.list(where, q.top, q.skip, order), q.count ? this.count(where) : undefined]);
    return { rows, count };
  }

  async isolationInputs(ids: string[], types: readonly string[]): Promise<EnforcementInputs<'isolation'>[]> {
    return this.#enforcementInputs('isolation', ids, types);
  }

  async setIsolationState(ids: string[], state: string): Promise<void> {
    await this.#setEnforcementState('isolation', ids, state);
  }

  async restrictionInputs(ids: string[], types: readonly string[]): Promise<EnforcementInputs<'restriction'>[]> {
    return this.#enforcementInputs('restriction', ids, types);
  }

  async setRestrictionState(ids: string[], state: string): Promise<void> {
    await this.#setEnforcementState('restriction', ids, state);
  }

  /**
   * What the enforcement state of each machine follows from: the agent's last report and whether an
   * action of one of `types` is still active on it (one query per 500 machines).
   */
  async #enforcementInputs<E extends Enforcement>(column: E, ids: string[], types: readonly string[]): Promise<EnforcementInputs<E>[]> {
    const state = `${column}_state` as const;
    const out: EnforcementInputs<E>[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('machines')
        .select((eb) => [
          'machines.id',
          eb.ref(`machines.${column}`).as('report'),
          eb.ref(`machines.${state}`).as('state'),
          eb
            .exists(eb.selectFrom('actions').select('actions.id').whereRef('actions.machine_id', '=', 'machines.id').where('actions.type', 'in', [...types]).where('actions.status', 'in', ['Pending', 'InProgress']))
            .as('busy'),
        ])
        .where('machines.id', 'in', ids.slice(i, i + 500))
        .execute();
      // SQLite answers 0/1, PostgreSQL a boolean.
      out.push(...rows.map((r) => ({ id: r.id, [column]: r.report, [state]: r.state, busy: Boolean(Number(r.busy)) }) as EnforcementInputs<E>));
    }
    return out;
  }

  async #setEnforcementState(column: Enforcement, ids: string[], state: string): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) await this.db.updateTable('machines').set(`${column}_state`, state).where('id', 'in', ids.slice(i, i + 500)).execute();
  }

  async credential(id: string): Promise<{ credential_hash: string; credential_revoked_at: string | null } | undefined> {
    return this.db.selectFrom('machines').select(['credential_hash', 'credential_revoked_at']).where('id', '=', id).executeTakeFirst();
  }

  /** Revokes a device's credential; answers false when it was revoked already (or the machine does not exist). */
  async revokeCredential(id: string, time: string, by: string): Promise<boolean> {
    const r = await this.db.updateTable('machines').set({ credential_revoked_at: time, credential_revoked_by: by }).where('id', '=', id).where('credential_revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** A page of machines, by name unless `order` says otherwise; the id breaks ties so pages never overlap. */
  async list(where: MachineWhere | undefined, top: number, skip: number, order: OrderKey[] = []): Promise<MachineRow[]> {
    let q = this.db.selectFrom('machines').selectAll();
    if (where) q = q.where(where);
    for (const o of order.length ? order : [{ expr: sql.ref('machines.computer_dns_name'), dir: 'asc' as const }]) q = q.orderBy(sql`${o.expr} ${sql.raw(o.dir)}`);
    return q.orderBy('id').limit(top).offset(skip).execute();
  }

  /** Machines last seen in [from, to): those whose health just turned Inactive. */
  async idsSeenBetween(from: string, to: string): Promise<string[]> {
    return (await this.db.selectFrom('machines').select('id').where('last_seen', '>=', from).where('last_seen', '<', to).execute()).map((r) => r.id);
  }

  async count(where: MachineWhere | undefined): Promise<number> {
    let q = this.db.selectFrom('machines').select((eb) => eb.fn.countAll<number>().as('n'));
    if (where) q = q.where(where);
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  async update(id: string, values: Updateable<MachinesTable>): Promise<void> {
    await this.db.updateTable('machines').set(values).where('id', '=', id).execute();
  }

  /**
   * Machines whose newest connection event in the timeline is AgentOnline: at start-up, before any
   * agent connects, those are the ones an earlier run of the server saw last and never saw go.
   */
  async lastRecordedOnline(): Promise<{ id: string; last_seen: string; online_at: string }[]> {
    return this.db
      .selectFrom('machines as m')
      .innerJoin('timeline as t', (join) =>
        join.on((eb) =>
          eb(
            't.id',
            '=',
            eb
              .selectFrom('timeline as c')
              .select('c.id')
              .whereRef('c.machine_id', '=', 'm.id')
              .where('c.event_type', 'in', ['AgentOnline', 'AgentOffline'])
              .orderBy('c.time', 'desc')
              .orderBy('c.id', 'desc')
              .limit(1),
          ),
        ),
      )
      .where('t.event_type', '=', 'AgentOnline')
      .select(['m.id', 'm.last_seen', 't.time as online_at'])
      .execute();
  }

  /** Heartbeats are batched: one statement per flush, not one per agent per beat. */
  async touchLastSeen(ids: string[], time: string): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.db.updateTable('machines').set({ last_seen: time }).where('id', 'in', ids.slice(i, i + 500)).execute();
    }
  }

  async recordIps(machineId: string, ips: string[], time: string): Promise<void> {
    for (const ip of ips) {
      await this.db
        .insertInto('machine_ips')
        .values({ machine_id: machineId, ip, first_seen: time, last_seen: time })
        .onConflict((oc) => oc.columns(['machine_id', 'ip']).doUpdateSet({ last_seen: time }))
        .execute();
    }
  }

  /**
   * Keeps the newest `keep` addresses per machine, so a device cannot grow the table without end.
   * One statement for all machines, run periodically: pruning on every hello cost ~9 KB of
   * server memory per connected agent in the fleet benchmark.
   */
  async pruneIps(keep: number): Promise<number> {
    const r = await sql`delete from machine_ips where (machine_id, ip) in (
      select machine_id, ip from (
        select machine_id, ip, row_number() over (partition by machine_id order by last_seen desc, ip) as rn from machine_ips
      ) ranked where rn > ${keep})`.execute(this.db);
    return Number(r.numAffectedRows ?? 0);
  }

  /** Machines seen with `ip` between `from` and `to`. */
  async findByIp(ip: string, from: string, to: string): Promise<MachineRow[]> {
    return this.db
      .selectFrom('machines')
      .selectAll('machines')
      .innerJoin('machine_ips', 'machine_ips.machine_id', 'machines.id')
      .where('machine_ips.ip', '=', ip)
      .where('machine_ips.last_seen', '>=', from)
      .where('machine_ips.first_seen', '<=', to)
      .execute();
  }

  async tagsOf(ids: string[]): Promise<TagRow[]> {
    if (ids.length === 0) return [];
    const out: TagRow[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      out.push(...(await this.db.selectFrom('machine_tags').select(['machine_id', 'tag', 'source']).where('machine_id', 'in', ids.slice(i, i + 500)).orderBy('tag').execute()));
    }
    return out;
  }

  /** Adds a user tag; answers whether it was new. */
  async addTag(machineId: string, tag: string, time: string): Promise<boolean> {
    const r = await this.db
      .insertInto('machine_tags')
      .values({ machine_id: machineId, tag, source: 'user', created_at: time })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async removeTag(machineId: string, tag: string): Promise<boolean> {
    const r = await this.db.deleteFrom('machine_tags').where('machine_id', '=', machineId).where('tag', '=', tag).where('source', '=', 'user').executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Device-side tags mirror the agent's local config: replaced whole on every inventory. */
  async replaceDeviceTags(machineId: string, tags: string[], time: string): Promise<void> {
    await atomically(this.db, async (tx) => {
      await tx.deleteFrom('machine_tags').where('machine_id', '=', machineId).where('source', '=', 'device').execute();
      if (tags.length > 0) {
        await tx.insertInto('machine_tags').values(tags.map((tag) => ({ machine_id: machineId, tag, source: 'device', created_at: time }))).execute();
      }
    });
  }
}
