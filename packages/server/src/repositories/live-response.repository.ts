import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Db } from '../db/database.js';
import type { ActionRow } from './actions.repository.js';
import { isUniqueViolation, lockForTransaction } from '../db/portable.js';
import type { LiveResponseCommandsTable, LiveResponseCompletionsTable, LiveResponseFilesTable, LiveResponseInputTable, LiveResponseOutputTable } from '../db/schema.js';

export type LiveCommandRow = Selectable<LiveResponseCommandsTable>;
export type NewLiveCommandRow = Insertable<LiveResponseCommandsTable>;
export type LiveOutputRow = Selectable<LiveResponseOutputTable>;
export type LiveFileRow = Selectable<LiveResponseFilesTable>;
export type LiveInputRow = Selectable<LiveResponseInputTable>;
type CommandEnd = Pick<Updateable<LiveResponseCommandsTable>, 'status' | 'exit_status' | 'error' | 'cwd' | 'truncated' | 'data' | 'ended_at'>;

/** An output chunk as stored: its id, and the id of the session's chunk before it (0: none), read in the same transaction. */
export interface StoredOutput {
  id: number;
  after: number;
}

/**
 * Takes the session's output lock for the rest of the transaction: a session's chunks then commit
 * in the order of their ids, on every node (PostgreSQL hands out ids before commit; SQLite has
 * one writer), so a reader that saw a chunk has seen every chunk before it.
 */
const lockOutput = (tx: Db, sessionId: string) => lockForTransaction(tx, `live-output:${sessionId}`);

/** The id of the session's last output chunk (0: none). */
async function lastOutputId(db: Db, sessionId: string): Promise<number> {
  const r = await db.selectFrom('live_response_output').select((eb) => eb.fn.max('id').as('id')).where('session_id', '=', sessionId).executeTakeFirst();
  return Number(r?.id ?? 0);
}

/** Stores an output chunk, in a transaction holding the session's output lock: `after` is the chunk committed just before it. */
async function insertOutput(tx: Db, sessionId: string, seq: number, text: string, at: string): Promise<StoredOutput> {
  await lockOutput(tx, sessionId);
  const after = await lastOutputId(tx, sessionId);
  const { id } = await tx.insertInto('live_response_output').values({ session_id: sessionId, seq, text, received_at: at }).returning('id').executeTakeFirstOrThrow();
  return { id: Number(id), after };
}

/** Thrown inside finish's transaction to undo its output when the line had already ended. */
class LineAlreadyEnded extends Error {}

/** Live-response transcripts: the lines typed in each session and the output they gave. */
export class LiveResponseRepository {
  constructor(private readonly db: Db) {}

  /** Keeps a completion's answer for the node that asked; a repeat of one already kept is ignored. */
  async putCompletion(row: Insertable<LiveResponseCompletionsTable>): Promise<void> {
    try {
      await this.db.insertInto('live_response_completions').values(row).execute();
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
    }
  }

  /** Takes a completion's answer away (it is read once), if it came. */
  async takeCompletion(completionId: string): Promise<Selectable<LiveResponseCompletionsTable> | undefined> {
    const row = await this.db.selectFrom('live_response_completions').selectAll().where('completion_id', '=', completionId).executeTakeFirst();
    if (row) await this.db.deleteFrom('live_response_completions').where('completion_id', '=', completionId).execute();
    return row;
  }

  /** Forgets answers nobody took (they came after their asker gave up). */
  async pruneCompletions(before: string): Promise<void> {
    await this.db.deleteFrom('live_response_completions').where('created_at', '<', before).execute();
  }

  /** The number the next line of a session takes. */
  async nextSeq(sessionId: string): Promise<number> {
    const r = await this.db.selectFrom('live_response_commands').select((eb) => eb.fn.max('seq').as('last')).where('session_id', '=', sessionId).executeTakeFirst();
    return Number(r?.last ?? 0) + 1;
  }

  /** Stores a new line; false when its number was taken meanwhile (another node's line). */
  async insertCommand(row: NewLiveCommandRow): Promise<boolean> {
    try {
      await this.db.insertInto('live_response_commands').values(row).execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  async command(sessionId: string, seq: number): Promise<LiveCommandRow | undefined> {
    return this.db.selectFrom('live_response_commands').selectAll().where('session_id', '=', sessionId).where('seq', '=', seq).executeTakeFirst();
  }

  /** A session's lines, in order. */
  async commands(sessionId: string): Promise<LiveCommandRow[]> {
    return this.db.selectFrom('live_response_commands').selectAll().where('session_id', '=', sessionId).orderBy('seq').execute();
  }

  /** The session's lines from `fromSeq` on, in order (a follower reads only what it has not seen end). */
  async commandsFrom(sessionId: string, fromSeq: number): Promise<LiveCommandRow[]> {
    return this.db.selectFrom('live_response_commands').selectAll().where('session_id', '=', sessionId).where('seq', '>=', fromSeq).orderBy('seq').execute();
  }

  /** How many lines each of these sessions has. */
  async counts(sessionIds: string[]): Promise<Map<string, number>> {
    if (sessionIds.length === 0) return new Map();
    const rows = await this.db.selectFrom('live_response_commands').select(['session_id', (eb) => eb.fn.countAll<number>().as('n')]).where('session_id', 'in', sessionIds).groupBy('session_id').execute();
    return new Map(rows.map((r) => [r.session_id, Number(r.n)]));
  }

  /**
   * Ends a running line, storing its last output with it when given (one transaction: one commit
   * on the path of every short line). `ended` is false when it had already ended (a line ends
   * once; the output is then not stored either). `outputUpTo` is the session's last output chunk
   * when it ended: a follower that has sent up to it has sent all the line's output.
   */
  async finish(sessionId: string, seq: number, end: CommandEnd, lastOutput?: { text: string; at: string }): Promise<{ ended: boolean; output?: StoredOutput; outputUpTo: number }> {
    return this.db
      .transaction()
      .execute(async (tx) => {
        // Output first: its id orders it before anything stored after the line is seen ended.
        const output = lastOutput ? await insertOutput(tx, sessionId, seq, lastOutput.text, lastOutput.at) : undefined;
        if (!output) await lockOutput(tx, sessionId);
        const r = await tx.updateTable('live_response_commands').set(end).where('session_id', '=', sessionId).where('seq', '=', seq).where('status', '=', 'Running').executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) throw new LineAlreadyEnded();
        return { ended: true, ...(output ? { output } : {}), outputUpTo: output ? output.id : await lastOutputId(tx, sessionId) };
      })
      .catch((err: unknown) => {
        if (err instanceof LineAlreadyEnded) return { ended: false, outputUpTo: 0 };
        throw err;
      });
  }

  /** Ends every running line of these sessions, or of this machine, as Failed with `error`; answers the sessions touched. */
  async failRunning(where: { sessionId: string } | { machineId: string }, error: string, at: string): Promise<{ sessionId: string; seq: number; command: string }[]> {
    const rows = await this.db
      .updateTable('live_response_commands')
      .set({ status: 'Failed', exit_status: 1, error, ended_at: at })
      .where('status', '=', 'Running')
      .where('sessionId' in where ? 'session_id' : 'machine_id', '=', 'sessionId' in where ? where.sessionId : where.machineId)
      .returning(['session_id', 'seq', 'command'])
      .execute();
    return rows.map((r) => ({ sessionId: r.session_id, seq: Number(r.seq), command: r.command }));
  }

  async appendOutput(sessionId: string, seq: number, text: string, at: string): Promise<StoredOutput> {
    return this.db.transaction().execute((tx) => insertOutput(tx, sessionId, seq, text, at));
  }

  /** A session's output chunks after `afterId`, in arrival order. */
  async outputAfter(sessionId: string, afterId: number, limit = 1000): Promise<LiveOutputRow[]> {
    const rows = await this.db.selectFrom('live_response_output').selectAll().where('session_id', '=', sessionId).where('id', '>', afterId).orderBy('id').limit(limit).execute();
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }

  /** The number the next input chunk of a line takes. */
  async nextChunk(sessionId: string, seq: number): Promise<number> {
    const r = await this.db.selectFrom('live_response_input').select((eb) => eb.fn.max('chunk').as('last')).where('session_id', '=', sessionId).where('seq', '=', seq).executeTakeFirst();
    return Number(r?.last ?? 0) + 1;
  }

  /** Stores an input chunk; false when its number was taken meanwhile (another node's chunk). */
  async insertInput(row: Insertable<LiveResponseInputTable>): Promise<boolean> {
    try {
      await this.db.insertInto('live_response_input').values(row).execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  async inputChunk(sessionId: string, seq: number, chunk: number): Promise<LiveInputRow | undefined> {
    return this.db.selectFrom('live_response_input').selectAll().where('session_id', '=', sessionId).where('seq', '=', seq).where('chunk', '=', chunk).executeTakeFirst();
  }

  /** What was typed in a session, line by line and chunk by chunk. */
  async input(sessionId: string): Promise<LiveInputRow[]> {
    const rows = await this.db.selectFrom('live_response_input').selectAll().where('session_id', '=', sessionId).orderBy('seq').orderBy('chunk').execute();
    return rows.map((r) => ({ ...r, seq: Number(r.seq), chunk: Number(r.chunk), cols: r.cols === null ? null : Number(r.cols), rows: r.rows === null ? null : Number(r.rows) }));
  }

  /** Live-response sessions (LiveResponse actions opened as sessions), newest first. */
  async sessions(machineId: string | undefined, top: number): Promise<ActionRow[]> {
    let q = this.db
      .selectFrom('actions')
      .innerJoin('machines', 'machines.id', 'actions.machine_id')
      .selectAll('actions')
      .select('machines.computer_dns_name')
      .where('actions.type', '=', 'LiveResponse')
      .where('actions.parameters', 'like', '{"session":%');
    if (machineId) q = q.where('actions.machine_id', '=', machineId);
    return q.orderBy('actions.created_at', 'desc').limit(top).execute();
  }

  /** Sessions of this machine with a line still running. */
  async runningSessions(machineId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('live_response_commands').select('session_id').distinct().where('machine_id', '=', machineId).where('status', '=', 'Running').execute();
    return rows.map((r) => r.session_id);
  }

  async file(id: string): Promise<LiveFileRow | undefined> {
    const r = await this.db.selectFrom('live_response_files').selectAll().where('id', '=', id).executeTakeFirst();
    return r && { ...r, size: Number(r.size), seq: Number(r.seq) };
  }

  /** A session's files, in the order they were started. */
  async files(sessionId: string): Promise<LiveFileRow[]> {
    const rows = await this.db.selectFrom('live_response_files').selectAll().where('session_id', '=', sessionId).orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({ ...r, size: Number(r.size), seq: Number(r.seq) }));
  }

  /** Starts a transfer, or moves an unfinished one of the same machine to the line resuming it. */
  async claimFile(row: Insertable<LiveResponseFilesTable>): Promise<void> {
    await this.db
      .insertInto('live_response_files')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet({ session_id: row.session_id, seq: row.seq }).where('live_response_files.status', '=', 'Uploading').where('live_response_files.machine_id', '=', row.machine_id))
      .execute();
  }

  async completeFile(id: string, sha256: string, at: string): Promise<void> {
    await this.db.updateTable('live_response_files').set({ status: 'Complete', sha256, completed_at: at }).where('id', '=', id).execute();
  }
}
