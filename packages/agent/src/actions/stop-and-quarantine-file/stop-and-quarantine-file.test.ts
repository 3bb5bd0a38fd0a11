/**
 * StopAndQuarantineFile's choices, on real files with the processes faked (the real ones are in
 * server/src/gateway/quarantine-agent.test.ts): who is killed, what is never killed (pid 1, the
 * agent itself), the scan index's entries, and a running program whose file was deleted.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileProcess, RunningFile } from '../../platform/types.js';
import { fakePlatform } from '../../testing/fake-platform.js';
import type { ActionContext } from '../types.js';
import { stopAndQuarantineFile } from './index.js';

const sha256 = (b: string) => createHash('sha256').update(b).digest('hex');
const sha1 = (b: string) => createHash('sha1').update(b).digest('hex');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-sqf-'));
  mkdirSync(join(dir, 'agent'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const proc = (pid: number): FileProcess => ({ pid, ppid: 1, uid: 0, commandLine: `prog-${pid} --run`, startTicks: 100, via: 'exe' });

/** An action context whose processes are `users` (by dev:ino) and whose running files are `running`. */
function context(users: Map<string, FileProcess[]>, running: RunningFile[] = []) {
  const kills: number[] = [];
  const { platform } = fakePlatform();
  platform.processesUsing = async (files) => new Map(files.map((f) => [`${f.dev}:${f.ino}`, users.get(`${f.dev}:${f.ino}`) ?? []]));
  platform.runningFiles = async () => running;
  platform.killProcess = async (p) => {
    kills.push(p.pid);
    return p.pid === 4243 ? 'gone' : 'killed';
  };
  const ctx = { platform, dataDir: join(dir, 'agent'), actionId: 'act-1', signal: new AbortController().signal, progress: () => {} } as unknown as ActionContext;
  return { ctx, kills };
}

const idOf = (path: string) => `${statSync(path).dev}:${statSync(path).ino}`;

describe('StopAndQuarantineFile', () => {
  it('kills every process using the file, then moves it; a process gone meanwhile is not counted', async () => {
    const path = join(dir, 'evil');
    writeFileSync(path, 'evil bytes');
    const { ctx, kills } = context(new Map([[idOf(path), [proc(4242), proc(4243)]]]));
    const result = await stopAndQuarantineFile.run({ sha256: sha256('evil bytes').toUpperCase(), path }, ctx);
    expect(kills).toEqual([4242, 4243]);
    expect(result).toMatchObject({ sha256: sha256('evil bytes'), sha1: null, killed: [{ pid: 4242, commandLine: 'prog-4242 --run' }], quarantined: [{ path, size: 10, sha1: sha1('evil bytes') }], notFound: [], refused: [] });
    expect(existsSync(path)).toBe(false);
  });

  it('never kills pid 1 or the agent itself: the file is refused, nothing killed or moved', async () => {
    for (const pid of [1, process.pid]) {
      const path = join(dir, `lib-${pid}`);
      writeFileSync(path, 'shared library');
      const { ctx, kills } = context(new Map([[idOf(path), [proc(4242), proc(pid)]]]));
      const who = pid === 1 ? 'pid 1 \\(init\\)' : `the Cordon agent itself \\(pid ${pid}\\)`;
      await expect(stopAndQuarantineFile.run({ sha1: sha1('shared library'), path }, ctx)).rejects.toThrow(new RegExp(`^Nothing was stopped or quarantined: ${path}: it is run or mapped by ${who}; nothing was killed or moved$`));
      expect(kills).toEqual([]);
      expect(readFileSync(path, 'utf8')).toBe('shared library');
    }
  });

  it("takes the latest scan's entries with the hash (not archive members), and counts those gone as not found", async () => {
    const a = join(dir, 'a.sh');
    writeFileSync(a, 'payload');
    const gone = join(dir, 'gone.sh');
    mkdirSync(join(dir, 'agent', 'scan'));
    const entry = (path: string, text: string) => JSON.stringify({ path, sha256: sha256(text), sha1: sha1(text), size: text.length, dev: 1, ino: 2 });
    writeFileSync(
      join(dir, 'agent', 'scan', 'index.jsonl'),
      [entry(join(dir, 'other'), 'other'), entry(`${join(dir, 'x.zip')}!payload`, 'payload'), `{"path": "${sha256('payload')}`, entry(a, 'payload'), entry(gone, 'payload'), ''].join('\n'),
    );
    const { ctx } = context(new Map());
    const result = await stopAndQuarantineFile.run({ sha256: sha256('payload') }, ctx);
    expect(result).toMatchObject({ killed: [], quarantined: [{ path: a }], notFound: [gone], refused: [] });
  });

  it('keeps the bytes of a running program whose file was deleted, and kills it', async () => {
    // The kernel's link to the deleted file (/proc/<pid>/exe) stands in as a file of the test's.
    const via = join(dir, 'exe-link');
    writeFileSync(via, 'running bytes');
    const st = statSync(via);
    const { ctx, kills } = context(new Map([[idOf(via), [proc(4242)]]]), [{ path: join(dir, 'deleted-prog'), deleted: true, via, dev: st.dev, ino: st.ino }]);
    const result = await stopAndQuarantineFile.run({ sha256: sha256('running bytes') }, ctx);
    expect(kills).toEqual([4242]);
    expect(result).toMatchObject({ killed: [{ pid: 4242 }], quarantined: [{ path: join(dir, 'deleted-prog'), size: 13 }] });
    // Read through the link, never removed through it.
    expect(readFileSync(via, 'utf8')).toBe('running bytes');
  });

  it("refuses the empty file's hash (it names every empty file) and anything in the vault", async () => {
    writeFileSync(join(dir, 'empty'), '');
    const { ctx } = context(new Map());
    await expect(stopAndQuarantineFile.run({ sha256: sha256(''), path: join(dir, 'empty') }, ctx)).rejects.toThrow('That is the hash of an empty file');
    await expect(stopAndQuarantineFile.run({ sha1: sha1('').toUpperCase() }, ctx)).rejects.toThrow('That is the hash of an empty file');
    expect(existsSync(join(dir, 'empty'))).toBe(true);
    const vaulted = join(dir, 'agent', 'quarantine', 'x');
    writeFileSync(vaulted, 'kept');
    await expect(stopAndQuarantineFile.run({ sha256: sha256('kept'), path: vaulted }, ctx)).rejects.toThrow(`Nothing was stopped or quarantined: ${vaulted}: it is in the quarantine vault already`);
  });

  it('fails saying what it looked at when nothing has the hash', async () => {
    const { ctx } = context(new Map());
    await expect(stopAndQuarantineFile.run({ sha256: sha256('nothing'), path: join(dir, 'missing') }, ctx)).rejects.toThrow(
      `No running program and no file with SHA-256 ${sha256('nothing')} was found (running programs, the latest scan's index, the path given); not found: ${join(dir, 'missing')}`,
    );
  });
});
