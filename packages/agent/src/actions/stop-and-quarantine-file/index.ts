import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ActionParameters, type StopAndQuarantineFileResult } from '@cordon/protocol';
import type { FileId, RunningFile } from '../../platform/types.js';
import { QuarantineNotFound, QuarantineRefused, QuarantineVault, type KilledProcess, type QuarantineSource } from '../../quarantine/vault.js';
import type { ActionContext, ActionManifest } from '../types.js';

type Params = { sha256?: string; sha1?: string; path?: string };
type Wanted = { sha256?: string; sha1?: string };

/** Most files one action moves (each is a line of its result and a row on the server). */
const MAX_FILES = 1000;
/** Most hits taken from the scan index. */
const MAX_INDEX_HITS = 1000;

const key = (f: FileId) => `${f.dev}:${f.ino}`;

/** Whether the agent can kill other users' processes and own the vault: it must run as root. */
export async function probeQuarantine(): Promise<{ provider?: string; unavailable?: string }> {
  return process.getuid?.() === 0 ? { provider: 'Cordon vault' } : { unavailable: 'the agent does not run as root, so it cannot stop other users\' programs or keep a root-only vault' };
}

/**
 * MDE's StopAndQuarantineFile: finds the files with the hash (the path given, the latest scan's
 * index, every file a running process runs or maps), and for each one kills the processes that
 * run or map it and moves it into the vault, the hash checked again as it moves. A file run by
 * pid 1 or the agent itself is refused, with nothing killed.
 */
export const stopAndQuarantineFile: ActionManifest<Params> = {
  type: 'StopAndQuarantineFile',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.StopAndQuarantineFile,
  // Hashing every running program's files takes a while on a busy server.
  timeoutMs: 15 * 60_000,
  maxResultBytes: 1024 * 1024,
  concurrency: 1,
  probe: probeQuarantine,
  async run(params, ctx) {
    const want: Wanted = { sha256: params.sha256?.toLowerCase(), sha1: params.sha1?.toLowerCase() };
    const vault = await QuarantineVault.open(ctx.dataDir);
    try {
      return await stopAndQuarantine(params, want, vault, ctx);
    } finally {
      await vault.close();
    }
  },
};

/** SHA-256 and SHA-1 of no bytes at all: they name every empty file, none in particular. */
const EMPTY = new Set(['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'da39a3ee5e6b4b0d3255bfef95601890afd80709']);

async function stopAndQuarantine(params: Params, want: Wanted, vault: QuarantineVault, ctx: ActionContext): Promise<StopAndQuarantineFileResult> {
  if ((want.sha256 && EMPTY.has(want.sha256)) || (want.sha1 && EMPTY.has(want.sha1))) throw new Error('That is the hash of an empty file: it names every empty file on the device, none in particular; nothing was done');
  const result: StopAndQuarantineFileResult = { sha256: want.sha256 ?? null, sha1: want.sha1 ?? null, killed: [], quarantined: [], notFound: [], refused: [] };
  const hashName = want.sha256 ? `SHA-256 ${want.sha256}` : `SHA-1 ${want.sha1}`;
  // Files whose processes were stopped here: a running program found by path is not handled twice.
  const stopped = new Set<string>();
  const stop = async (file: FileId, path: string): Promise<KilledProcess[]> => {
    const using = (await ctx.platform.processesUsing([file])).get(key(file)) ?? [];
    const untouchable = using.filter((p) => p.pid === 1 || p.pid === process.pid);
    if (untouchable.length > 0) {
      const who = untouchable.map((p) => (p.pid === 1 ? 'pid 1 (init)' : `the Cordon agent itself (pid ${p.pid})`)).join(' and ');
      throw new QuarantineRefused(path, `it is run or mapped by ${who}; nothing was killed or moved`);
    }
    const killed: KilledProcess[] = [];
    for (const p of using) if ((await ctx.platform.killProcess(p)) === 'killed') killed.push({ pid: p.pid, commandLine: p.commandLine });
    stopped.add(key(file));
    result.killed.push(...killed);
    return killed;
  };
  const take = async (source: QuarantineSource) => {
    if (result.quarantined.length >= MAX_FILES) return;
    if (source.path === vault.path || source.path.startsWith(`${vault.path}/`)) {
      result.refused.push({ path: source.path, reason: 'it is in the quarantine vault already' });
      return;
    }
    try {
      const m = await vault.quarantine(source, want, { actionId: ctx.actionId, stop });
      result.quarantined.push({ quarantineId: m.quarantineId, path: m.path, size: m.size, sha256: m.sha256, sha1: m.sha1, quarantinedAt: m.quarantinedAt });
    } catch (e) {
      if (e instanceof QuarantineNotFound) result.notFound.push(source.path);
      else result.refused.push({ path: source.path, reason: e instanceof QuarantineRefused ? e.reason : (e as Error).message });
    }
  };

  // The path given and the latest scan's hits first: each is checked against the hash as it moves.
  ctx.progress(5, "looking in the latest scan's index");
  const paths = [...new Set([...(params.path ? [params.path] : []), ...(await indexHits(ctx.dataDir, want))])];
  for (const path of paths) await take({ path });

  ctx.progress(30, 'hashing the files running programs run or map');
  for (const r of await runningMatches(ctx, want)) {
    if (stopped.has(key(r))) continue;
    // Its path still names it: moved like any file. Deleted (or in another mount namespace): its
    // bytes are kept from the running process, which is then killed.
    const here = r.deleted ? null : await lstat(r.path).catch(() => null);
    await take(here && here.dev === r.dev && here.ino === r.ino ? { path: r.path } : { path: r.path, readVia: r.via, file: { dev: r.dev, ino: r.ino } });
  }
  ctx.progress(95, `${result.killed.length} killed, ${result.quarantined.length} quarantined`);

  if (result.killed.length === 0 && result.quarantined.length === 0) {
    const why = result.refused.map((r) => `${r.path}: ${r.reason}`);
    throw new Error(
      why.length > 0
        ? `Nothing was stopped or quarantined: ${why.join('; ')}`.slice(0, 4000)
        : `No running program and no file with ${hashName} was found (running programs, the latest scan's index${params.path ? ', the path given' : ''})${result.notFound.length ? `; not found: ${result.notFound.join(', ')}` : ''}`.slice(0, 4000),
    );
  }
  return result;
}

/** The paths the latest scan read whose hash is the one asked for (the index is JSON lines). */
async function indexHits(dataDir: string, want: Wanted): Promise<string[]> {
  const needle = want.sha256 ?? want.sha1!;
  const stream = createReadStream(join(dataDir, 'scan', 'index.jsonl'), { encoding: 'utf8' });
  const out: string[] = [];
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      // Most lines are other files: parse only those that hold the hash.
      if (!line.includes(needle)) continue;
      try {
        const e = JSON.parse(line) as { path?: unknown; sha256?: unknown; sha1?: unknown };
        // Archive members (`a.zip!b`) are not files of their own.
        if (typeof e.path !== 'string' || e.path.includes('!')) continue;
        if ((want.sha256 && e.sha256 === want.sha256) || (!want.sha256 && e.sha1 === want.sha1)) out.push(e.path);
      } catch {
        // A line cut short by a crash: not an entry.
      }
      if (out.length >= MAX_INDEX_HITS) break;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  } finally {
    stream.destroy();
  }
  return out;
}

/** The files running processes run or map whose hash is the one asked for; each file hashed once. */
async function runningMatches(ctx: ActionContext, want: Wanted): Promise<RunningFile[]> {
  const files = await ctx.platform.runningFiles();
  const out: RunningFile[] = [];
  let done = 0;
  for (const f of files) {
    if (ctx.signal.aborted) throw new Error('cancelled');
    const digest = await hashVia(f.via, want.sha256 ? 'sha256' : 'sha1').catch(() => null);
    if (digest !== null && digest === (want.sha256 ?? want.sha1)) out.push(f);
    if (++done % 50 === 0) ctx.progress(30 + Math.floor((done / files.length) * 60), `hashed ${done} of ${files.length} running programs' files`);
  }
  return out;
}

/** Hashes a file through a kernel magic link (/proc/<pid>/exe or map_files): the file the process uses, wherever it is. */
async function hashVia(via: string, algorithm: 'sha256' | 'sha1'): Promise<string> {
  // Without touching the file's access time (kept in the vault's record); O_NOATIME needs root or the owner.
  const flags = constants.O_RDONLY | constants.O_NONBLOCK;
  const fh = await open(via, flags | constants.O_NOATIME).catch(() => open(via, flags));
  try {
    if (!(await fh.stat()).isFile()) throw new Error('not a regular file');
    const h = createHash(algorithm);
    for await (const chunk of fh.createReadStream({ autoClose: false })) h.update(chunk as Buffer);
    return h.digest('hex');
  } finally {
    await fh.close();
  }
}
