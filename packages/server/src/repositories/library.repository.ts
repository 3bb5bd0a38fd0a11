import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { LibraryFilesTable } from '../db/schema.js';

export type LibraryFileRow = Selectable<LibraryFilesTable>;
export type NewLibraryFileRow = Insertable<LibraryFilesTable>;

/** The live-response library: one row per file name. */
export class LibraryRepository {
  constructor(private readonly db: Db) {}

  /** Every file, by name. */
  async list(): Promise<LibraryFileRow[]> {
    return this.db.selectFrom('library_files').selectAll().orderBy('file_name').execute();
  }

  async get(fileName: string): Promise<LibraryFileRow | undefined> {
    return this.db.selectFrom('library_files').selectAll().where('file_name', '=', fileName).executeTakeFirst();
  }

  /**
   * Stores `row` as the file in force under its name: a new name is inserted; an existing one
   * takes the new bytes and details but keeps who created it and when.
   */
  async put(row: NewLibraryFileRow): Promise<LibraryFileRow> {
    const { file_name: _name, created_by: _by, creation_time: _at, ...update } = row;
    return this.db
      .insertInto('library_files')
      .values(row)
      .onConflict((oc) => oc.column('file_name').doUpdateSet(update))
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Deletes a file's row; answers whether there was one. */
  async remove(fileName: string): Promise<boolean> {
    const r = await this.db.deleteFrom('library_files').where('file_name', '=', fileName).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
