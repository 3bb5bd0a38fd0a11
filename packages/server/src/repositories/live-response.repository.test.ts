import { afterEach, describe, expect, it } from 'vitest';
import { openTestStore, STORES } from '../testing/stores.js';
import { LiveResponseRepository, type NewLiveCommandRow } from './live-response.repository.js';

/** Live-response transcripts and their queries, the same on SQLite and PostgreSQL. */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';
const M1 = 'a'.repeat(40);
const M2 = 'b'.repeat(40);
const line = (session: string, seq: number, over: Partial<NewLiveCommandRow> = {}): NewLiveCommandRow => ({
  session_id: session,
  seq,
  machine_id: M1,
  line: `ls /tmp/${seq}`,
  command: 'ls',
  issued_by: 'alice',
  status: 'Running',
  exit_status: null,
  error: null,
  cwd: null,
  truncated: 0,
  data: null,
  signed_payload: '{}',
  signature: 'sig',
  key_id: 'k',
  started_at: `2026-12-08T10:00:0${seq}.000Z`,
  ended_at: null,
  ...over,
});

describe.each(STORES)('live-response repository (%s)', (kind) => {
  async function repo(): Promise<LiveResponseRepository> {
    const s = await openTestStore(kind);
    closers.push(s.close);
    return new LiveResponseRepository(s.db);
  }

  it('numbers lines per session and refuses a number taken twice', async () => {
    const r = await repo();
    expect(await r.nextSeq(S1)).toBe(1);
    expect(await r.insertCommand(line(S1, 1))).toBe(true);
    expect(await r.insertCommand(line(S1, 1, { line: 'pwd' }))).toBe(false);
    expect(await r.insertCommand(line(S1, 2))).toBe(true);
    expect(await r.insertCommand(line(S2, 1))).toBe(true);
    expect(await r.nextSeq(S1)).toBe(3);
    expect((await r.commands(S1)).map((c) => [Number(c.seq), c.line])).toEqual([
      [1, 'ls /tmp/1'],
      [2, 'ls /tmp/2'],
    ]);
    expect(await r.counts([S1, S2, 'none'])).toEqual(
      new Map([
        [S1, 2],
        [S2, 1],
      ]),
    );
  });

  it('ends a line once, and ends the running lines of a session or a machine', async () => {
    const r = await repo();
    await r.insertCommand(line(S1, 1));
    await r.insertCommand(line(S1, 2));
    await r.insertCommand(line(S2, 1, { machine_id: M2 }));
    const end = { status: 'Succeeded', exit_status: 0, error: null, cwd: '/tmp', truncated: 0, data: '{"n":1}', ended_at: '2026-12-08T10:01:00.000Z' };
    expect(await r.finish(S1, 1, end)).toEqual({ ended: true, outputUpTo: 0 });
    expect((await r.finish(S1, 1, { ...end, status: 'Failed' })).ended).toBe(false);
    expect((await r.command(S1, 1))?.status).toBe('Succeeded');
    expect(await r.runningSessions(M1)).toEqual([S1]);
    // Each line it ended, with its command (a shell's end is audited by whoever ended it).
    expect(await r.failRunning({ machineId: M1 }, 'offline', '2026-12-08T10:02:00.000Z')).toEqual([{ sessionId: S1, seq: 2, command: 'ls' }]);
    expect(await r.command(S1, 2)).toMatchObject({ status: 'Failed', error: 'offline', ended_at: '2026-12-08T10:02:00.000Z' });
    expect((await r.command(S2, 1))?.status).toBe('Running');
    expect(await r.failRunning({ sessionId: S2 }, 'ended', '2026-12-08T10:03:00.000Z')).toEqual([{ sessionId: S2, seq: 1, command: 'ls' }]);
    expect(await r.runningSessions(M2)).toEqual([]);
  });

  it('ends a line with its last output in one go, and stores neither for a line that had ended', async () => {
    const r = await repo();
    await r.insertCommand(line(S1, 1));
    const first = await r.appendOutput(S1, 1, 'first ', '2026-12-08T10:00:01.000Z');
    const end = { status: 'Succeeded', exit_status: 0, error: null, cwd: '/tmp', truncated: 0, data: null, ended_at: '2026-12-08T10:00:02.000Z' };
    // Each chunk says which chunk of its session came just before it (what a follower checks it has sent).
    const finished = await r.finish(S1, 1, end, { text: 'last', at: '2026-12-08T10:00:02.000Z' });
    expect(finished).toEqual({ ended: true, output: { id: expect.any(Number), after: first.id }, outputUpTo: finished.output!.id });
    expect(first.after).toBe(0);
    expect((await r.outputAfter(S1, 0)).map((o) => o.text)).toEqual(['first ', 'last']);
    expect((await r.command(S1, 1))?.status).toBe('Succeeded');
    // A second end (a replay, or a line the server ended meanwhile) changes nothing and adds no output.
    expect((await r.finish(S1, 1, { ...end, status: 'Failed' }, { text: 'again', at: '2026-12-08T10:00:03.000Z' })).ended).toBe(false);
    expect((await r.outputAfter(S1, 0)).map((o) => o.text)).toEqual(['first ', 'last']);
    expect((await r.command(S1, 1))?.status).toBe('Succeeded');
  });

  it('keeps output in arrival order across lines and pages it', async () => {
    const r = await repo();
    const b1 = await r.appendOutput(S1, 2, 'b1', '2026-12-08T10:00:01.000Z');
    const a1 = await r.appendOutput(S1, 1, 'a1', '2026-12-08T10:00:02.000Z');
    const other = await r.appendOutput(S2, 1, 'other', '2026-12-08T10:00:02.000Z');
    const b2 = await r.appendOutput(S1, 2, 'b2', '2026-12-08T10:00:03.000Z');
    // The chunk before each, in its own session only.
    expect([b1.after, a1.after, other.after, b2.after]).toEqual([0, b1.id, 0, a1.id]);
    const all = await r.outputAfter(S1, 0);
    expect(all.map((o) => [o.seq, o.text])).toEqual([
      [2, 'b1'],
      [1, 'a1'],
      [2, 'b2'],
    ]);
    expect(typeof all[0]!.id).toBe('number');
    expect((await r.outputAfter(S1, all[0]!.id, 1)).map((o) => o.text)).toEqual(['a1']);
    expect(await r.outputAfter(S1, all[2]!.id)).toEqual([]);
  });

  it('keeps getfile transfers: a resumed one moves to the line resuming it, a complete one stays put, another machine cannot take it', async () => {
    const r = await repo();
    const file = { id: 'f1', machine_id: M1, session_id: S1, seq: 3, path: '/var/log/a b', size: 5 * 1024 ** 3, sha256: null, status: 'Uploading', created_at: '2026-12-08T10:00:00.000Z', completed_at: null };
    await r.claimFile(file);
    expect(await r.file('f1')).toEqual({ ...file });
    await r.claimFile({ ...file, session_id: S2, seq: 1, created_at: '2026-12-08T11:00:00.000Z' });
    expect(await r.file('f1')).toMatchObject({ session_id: S2, seq: 1, created_at: file.created_at });
    await r.claimFile({ ...file, machine_id: M2, session_id: S1, seq: 9 });
    expect(await r.file('f1')).toMatchObject({ machine_id: M1, session_id: S2 });
    await r.completeFile('f1', 'c'.repeat(64), '2026-12-08T11:05:00.000Z');
    await r.claimFile({ ...file, session_id: S1, seq: 4 });
    expect(await r.file('f1')).toMatchObject({ status: 'Complete', sha256: 'c'.repeat(64), session_id: S2, completed_at: '2026-12-08T11:05:00.000Z' });
    expect((await r.files(S2)).map((f) => f.id)).toEqual(['f1']);
    expect(await r.files(S1)).toEqual([]);
  });
});
