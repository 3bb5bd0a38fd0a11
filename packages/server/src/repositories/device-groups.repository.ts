import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Db } from '../db/database.js';
import { isUniqueViolation, lockForTransaction } from '../db/portable.js';
import type { DeviceGroupsTable } from '../db/schema.js';

export type DeviceGroupRow = Selectable<DeviceGroupsTable>;
export type NewDeviceGroupRow = Omit<Insertable<DeviceGroupsTable>, 'id'>;
export type DeviceGroupChange = Omit<Updateable<DeviceGroupsTable>, 'id' | 'created_by' | 'created_at'>;

/** A write hit the unique name or rank of another group. */
export class DeviceGroupTakenError extends Error {
  constructor() {
    super('another device group holds that name or rank');
  }
}

const taken = (e: unknown): never => {
  throw isUniqueViolation(e) ? new DeviceGroupTakenError() : e;
};

/** Device groups, one row each. */
export class DeviceGroupsRepository {
  constructor(private readonly db: Db) {}

  /**
   * Makes the caller's transaction the only one changing groups until it ends (nodes queue on it):
   * a name or rank is checked free and then taken without another writer taking it meanwhile.
   */
  async lockWrites(): Promise<void> {
    await lockForTransaction(this.db, 'devicegroups/write');
  }

  /** Every group, highest priority (rank 1) first: the order membership is decided in. */
  async ranked(): Promise<DeviceGroupRow[]> {
    return this.db.selectFrom('device_groups').selectAll().orderBy('rank').execute();
  }

  async get(id: number): Promise<DeviceGroupRow | undefined> {
    return this.db.selectFrom('device_groups').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The group holding a name (whatever its case) or a rank, if any: what a new or changed group would collide with. */
  async holding(by: { nameKey?: string; rank?: number }): Promise<DeviceGroupRow[]> {
    if (by.nameKey === undefined && by.rank === undefined) return [];
    return this.db
      .selectFrom('device_groups')
      .selectAll()
      .where((eb) => eb.or([...(by.nameKey !== undefined ? [eb('name_key', '=', by.nameKey)] : []), ...(by.rank !== undefined ? [eb('rank', '=', by.rank)] : [])]))
      .execute();
  }

  /** The lowest priority in use (the largest rank), or 0 when there is no group. */
  async lastRank(): Promise<number> {
    const r = await this.db.selectFrom('device_groups').select((eb) => eb.fn.max('rank').as('r')).executeTakeFirst();
    return Number(r?.r ?? 0);
  }

  /** Refused with DeviceGroupTakenError when another group holds its name or rank. */
  async insert(row: NewDeviceGroupRow): Promise<DeviceGroupRow> {
    return this.db.insertInto('device_groups').values(row).returningAll().executeTakeFirstOrThrow().catch(taken);
  }

  /** Applies `change` to a group; answers the group as it is now, or undefined when there is none. */
  async update(id: number, change: DeviceGroupChange): Promise<DeviceGroupRow | undefined> {
    return this.db.updateTable('device_groups').set(change).where('id', '=', id).returningAll().executeTakeFirst().catch(taken);
  }

  /** Deletes a group; answers the row it was, or undefined when there was none. */
  async remove(id: number): Promise<DeviceGroupRow | undefined> {
    return this.db.deleteFrom('device_groups').where('id', '=', id).returningAll().executeTakeFirst();
  }
}
