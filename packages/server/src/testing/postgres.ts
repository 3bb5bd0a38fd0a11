import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Debian's PostgreSQL 15 (the `postgresql` package, which `.ci/run` installs). */
const BIN = '/usr/lib/postgresql/15/bin';

/**
 * A real PostgreSQL server for tests and benchmarks: a cluster made with `initdb` in a temp dir
 * owned by the `postgres` user (initdb refuses root), on a private loopback port, with durability
 * off (fsync, synchronous commit) since it is thrown away. Stop it in cleanup.
 */
export interface TestPostgres {
  /** The superuser URL of `database` (default `postgres`). */
  url(database?: string): string;
  /** The directory of its Unix socket: reachable from a process in another network namespace, where loopback is not. */
  socketDir: string;
  /** Stops the server at once (as a crash would), keeping its data: for "database lost" tests. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data after `kill()`. */
  start(): Promise<void>;
  /** Stops it and deletes its files. */
  stop(): Promise<void>;
}

export function postgresMissing(): string | null {
  return existsSync(join(BIN, 'initdb')) ? null : `PostgreSQL 15 is missing (looked for ${BIN}/initdb): install it with \`apt-get install postgresql\`, or run the suite with .ci/run, which installs everything the tests need.`;
}

/** `durable`: every commit survives `kill()` (for outage tests); otherwise durability is off, for speed. */
export async function startTestPostgres(opts: { durable?: boolean } = {}): Promise<TestPostgres> {
  const missing = postgresMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'cordon-pg-'));
  const data = join(dir, 'data');
  const { uid, gid } = postgresUser();
  chownSync(dir, uid, gid);
  run('runuser', ['-u', 'postgres', '--', join(BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
  const port = await freePort();
  let child: ChildProcess | null = null;

  const start = async () => {
    child = spawn(
      'runuser',
      ['-u', 'postgres', '--', join(BIN, 'postgres'), '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', ...(opts.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']), '-c', 'max_connections=400', '-c', 'log_min_messages=fatal'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: url('postgres') });
      try {
        await client.connect();
        await client.end();
        return;
      } catch (e) {
        await client.end().catch(() => {});
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the test PostgreSQL did not start: ${String(e)}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const kill = async () => {
    // pg_ctl finds the postmaster from its pid file, so this works even if our child handle is gone.
    if (existsSync(join(data, 'postmaster.pid'))) run('runuser', ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'], true);
    const c = child as ChildProcess | null;
    if (c && c.exitCode === null) await new Promise((r) => c.once('exit', r));
    child = null;
  };
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  await start();
  return {
    url,
    socketDir: dir,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('there is no postgres user: install the postgresql package');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(cmd: string, args: string[], tolerate = false): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0 && !tolerate) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}
