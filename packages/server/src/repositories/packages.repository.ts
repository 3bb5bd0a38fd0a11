import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { PackagesTable } from '../db/schema.js';

export type PackageRow = Selectable<PackagesTable>;

export class PackagesRepository {
  constructor(private readonly db: Db) {}

  async insert(row: Insertable<PackagesTable>): Promise<void> {
    await this.db.insertInto('packages').values(row).execute();
  }

  async get(actionId: string): Promise<PackageRow | undefined> {
    return this.db.selectFrom('packages').selectAll().where('action_id', '=', actionId).executeTakeFirst();
  }

  /** A device's packages, newest first (the timeline and the device page list them all). */
  async ofMachine(machineId: string): Promise<PackageRow[]> {
    return this.db.selectFrom('packages').selectAll().where('machine_id', '=', machineId).orderBy('created_at', 'desc').execute();
  }

  /** Packages whose retention ended and whose file is still there. */
  async expired(now: string, limit: number): Promise<PackageRow[]> {
    return this.db.selectFrom('packages').selectAll().where('expires_at', '<=', now).where('deleted_at', 'is', null).limit(limit).execute();
  }

  async markDeleted(actionId: string, time: string): Promise<void> {
    await this.db.updateTable('packages').set({ deleted_at: time }).where('action_id', '=', actionId).execute();
  }
}
