/**
 * The quarantine vault on real files (the agent runs as root, so do these tests): a file moves in
 * and back byte for byte with its owner, mode and times; a hash that does not match at the moment
 * of the move, a symbolic link at the path, on the way to it or in place of the vault, and a file
 * already at the restore path are refused, with nothing changed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QuarantineNotFound, QuarantineRefused, QuarantineVault } from './vault.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');

let dir: string;
let dataDir: string;
let files: string;
const opened: QuarantineVault[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-vault-'));
  dataDir = join(dir, 'agent');
  files = join(dir, 'files');
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(files);
});
afterEach(async () => {
  for (const v of opened.splice(0)) await v.close();
  rmSync(dir, { recursive: true, force: true });
});

async function vault(): Promise<QuarantineVault> {
  const v = await QuarantineVault.open(dataDir);
  opened.push(v);
  return v;
}

/** Sets a file's times to the nanosecond (as an attacker's tool or a package manager would). */
function touchNs(path: string, which: '-a' | '-m', stamp: string): void {
  execFileSync('touch', [which, '-d', stamp, path]);
}

/** What a refusal must leave alone: the same inode with the same bytes and times. */
function snapshot(path: string) {
  const st = lstatSync(path, { bigint: true });
  return { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, mode: st.mode, bytes: readFileSync(path).toString('base64') };
}

const vaultItems = () => readdirSync(join(dataDir, 'quarantine'));

describe('QuarantineVault', () => {
  it('moves a file in and restores it byte for byte with its owner, mode and times', async () => {
    const path = join(files, 'dropper');
    const bytes = Buffer.concat([Buffer.from('\x7fELF not really'), Buffer.alloc(3 * 1024 * 1024 + 17, 7)]);
    writeFileSync(path, bytes);
    chownSync(path, 65534, 65534);
    chmodSync(path, 0o751);
    touchNs(path, '-a', '@1600000000.987654321');
    touchNs(path, '-m', '@1700000000.123456789');
    const before = lstatSync(path, { bigint: true });
    const v = await vault();
    const stopped: { dev: number; ino: number; path: string }[] = [];
    const meta = await v.quarantine({ path }, { sha256: sha256(bytes).toUpperCase() }, {
      actionId: 'a1',
      stop: async (f, p) => {
        stopped.push({ ...f, path: p });
        return [{ pid: 4242, commandLine: 'dropper --evil' }];
      },
    });
    expect(existsSync(path)).toBe(false);
    expect(stopped).toEqual([{ dev: Number(before.dev), ino: Number(before.ino), path }]);
    expect(meta).toMatchObject({ path, sha256: sha256(bytes), sha1: sha1(bytes), size: bytes.length, uid: 65534, gid: 65534, mode: 0o751, atimeNs: '1600000000987654321', mtimeNs: '1700000000123456789', actionId: 'a1', processesKilled: [{ pid: 4242, commandLine: 'dropper --evil' }], fromProcess: false });
    // Root only: the vault 0700, the item's files 0600.
    expect(statSync(join(dataDir, 'quarantine')).mode & 0o7777).toBe(0o700);
    expect(vaultItems()).toEqual([meta.quarantineId]);
    const item = join(dataDir, 'quarantine', meta.quarantineId);
    expect([statSync(join(item, 'data')).mode & 0o777, statSync(join(item, 'meta.json')).mode & 0o777, statSync(item).mode & 0o777]).toEqual([0o600, 0o600, 0o700]);
    expect(readFileSync(join(item, 'data')).equals(bytes)).toBe(true);
    expect(await v.list()).toEqual([meta]);

    expect(await v.restore(meta.quarantineId)).toEqual(meta);
    const after = lstatSync(path, { bigint: true });
    expect({ uid: after.uid, gid: after.gid, mode: after.mode & 0o7777n, atimeNs: after.atimeNs, mtimeNs: after.mtimeNs }).toEqual({ uid: 65534n, gid: 65534n, mode: 0o751n, atimeNs: 1600000000987654321n, mtimeNs: 1700000000123456789n });
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(vaultItems()).toEqual([]);
    await expect(v.restore(meta.quarantineId)).rejects.toThrow(QuarantineNotFound);
  });

  it('keeps setuid and setgid bits through the restore (chown clears them)', async () => {
    const path = join(files, 'suid');
    writeFileSync(path, 'suid program');
    chownSync(path, 65534, 65534);
    chmodSync(path, 0o6755);
    const v = await vault();
    const meta = await v.quarantine({ path }, { sha1: sha1('suid program') }, { actionId: 'a2' });
    await v.restore(meta.quarantineId);
    expect(statSync(path).mode & 0o7777).toBe(0o6755);
  });

  it('refuses a file whose hash is not the one asked for, leaving it untouched and the vault empty', async () => {
    const path = join(files, 'changed');
    writeFileSync(path, 'the file as it is now');
    const was = snapshot(path);
    const v = await vault();
    let stopped = false;
    const err = await v.quarantine({ path }, { sha256: sha256('the file as the scan saw it') }, { actionId: 'a3', stop: async () => ((stopped = true), []) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuarantineRefused);
    expect((err as QuarantineRefused).reason).toBe(`its SHA-256 is ${sha256('the file as it is now')}, not ${sha256('the file as the scan saw it')}: the file changed or is another file; it was left where it is`);
    expect(stopped).toBe(false);
    expect(snapshot(path)).toEqual(was);
    expect(vaultItems()).toEqual([]);
    // Both hashes given: both must match.
    await expect(v.quarantine({ path }, { sha256: sha256('the file as it is now'), sha1: sha1('other') }, { actionId: 'a3' })).rejects.toThrow(/its SHA-1 is/);
    expect(snapshot(path)).toEqual(was);
  });

  it('refuses a symbolic link at the path or on the way to it, and never follows it', async () => {
    const target = join(files, 'real');
    writeFileSync(target, 'precious');
    const was = snapshot(target);
    symlinkSync(target, join(files, 'link'));
    mkdirSync(join(files, 'dir'));
    writeFileSync(join(files, 'dir', 'inner'), 'precious');
    symlinkSync(join(files, 'dir'), join(files, 'dirlink'));
    const v = await vault();
    const want = { sha256: sha256('precious') };
    await expect(v.quarantine({ path: join(files, 'link') }, want, { actionId: 'a4' })).rejects.toThrow('it is a symbolic link; links are never followed');
    await expect(v.quarantine({ path: join(files, 'dirlink', 'inner') }, want, { actionId: 'a4' })).rejects.toThrow(`${join(files, 'dirlink')} is a symbolic link`);
    expect(snapshot(target)).toEqual(was);
    expect(readFileSync(join(files, 'dir', 'inner'), 'utf8')).toBe('precious');
    expect(lstatSync(join(files, 'link')).isSymbolicLink()).toBe(true);
    expect(vaultItems()).toEqual([]);
    // A missing file is not found, not refused; a FIFO is not a file.
    await expect(v.quarantine({ path: join(files, 'nothing') }, want, { actionId: 'a4' })).rejects.toThrow(QuarantineNotFound);
    execFileSync('mkfifo', [join(files, 'fifo')]);
    await expect(v.quarantine({ path: join(files, 'fifo') }, want, { actionId: 'a4' })).rejects.toThrow('not a regular file');
    await expect(v.quarantine({ path: `${files}/../files/real` }, want, { actionId: 'a4' })).rejects.toThrow('without . or .. parts');
  });

  it('leaves the file in place when stopping its processes is refused', async () => {
    const path = join(files, 'init-lib');
    writeFileSync(path, 'libc, say');
    const was = snapshot(path);
    const v = await vault();
    await expect(
      v.quarantine({ path }, { sha256: sha256('libc, say') }, { actionId: 'a5', stop: async (_f, p) => { throw new QuarantineRefused(p, 'it is run or mapped by pid 1 (init); nothing was killed or moved'); } }),
    ).rejects.toThrow('pid 1 (init)');
    expect(snapshot(path)).toEqual(was);
    expect(vaultItems()).toEqual([]);
  });

  it('refuses to restore onto an existing file or a symbolic link, keeping the vault item', async () => {
    const path = join(files, 'tool');
    writeFileSync(path, 'the quarantined tool');
    const v = await vault();
    const meta = await v.quarantine({ path }, { sha256: sha256('the quarantined tool') }, { actionId: 'a6' });

    writeFileSync(path, 'a new file put there since');
    await expect(v.restore(meta.quarantineId)).rejects.toThrow('a file (or link) is at that path now; move it away first, then restore');
    expect(readFileSync(path, 'utf8')).toBe('a new file put there since');
    rmSync(path);

    // A link at the path (even one that leads nowhere) is never written through.
    const elsewhere = join(dir, 'elsewhere');
    symlinkSync(elsewhere, path);
    await expect(v.restore(meta.quarantineId)).rejects.toThrow('a file (or link) is at that path now');
    expect(existsSync(elsewhere)).toBe(false);
    rmSync(path);

    // A folder on the way swapped for a link.
    rmSync(files, { recursive: true });
    mkdirSync(join(dir, 'other'));
    symlinkSync(join(dir, 'other'), files);
    await expect(v.restore(meta.quarantineId)).rejects.toThrow(`${files} is a symbolic link`);
    expect(readdirSync(join(dir, 'other'))).toEqual([]);
    rmSync(files);
    await expect(v.restore(meta.quarantineId)).rejects.toThrow(`${files} does not exist: its folder must exist to restore it`);

    expect(vaultItems()).toEqual([meta.quarantineId]);
    mkdirSync(files);
    await v.restore(meta.quarantineId);
    expect(readFileSync(path, 'utf8')).toBe('the quarantined tool');
  });

  it('refuses a vault that is a symbolic link or not the agent\'s, and tightens a loose mode', async () => {
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(dataDir, 'quarantine'));
    await expect(QuarantineVault.open(dataDir)).rejects.toThrow('the quarantine vault is a symbolic link');
    rmSync(join(dataDir, 'quarantine'));

    mkdirSync(join(dataDir, 'quarantine'), { mode: 0o755 });
    chownSync(join(dataDir, 'quarantine'), 65534, 65534);
    await expect(QuarantineVault.open(dataDir)).rejects.toThrow(`the quarantine vault is owned by uid 65534, not the agent (uid 0)`);
    chownSync(join(dataDir, 'quarantine'), 0, 0);
    chmodSync(join(dataDir, 'quarantine'), 0o777);
    await vault();
    expect(statSync(join(dataDir, 'quarantine')).mode & 0o7777).toBe(0o700);

    // Swapped for a link after it was made: refused too, and nothing lands where the link points.
    rmSync(join(dataDir, 'quarantine'), { recursive: true });
    symlinkSync(elsewhere, join(dataDir, 'quarantine'));
    writeFileSync(join(files, 'x'), 'x');
    await expect(QuarantineVault.open(dataDir)).rejects.toThrow(QuarantineRefused);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readFileSync(join(files, 'x'), 'utf8')).toBe('x');
  });

  it('keeps the bytes of a running program whose file was deleted, read through /proc', async () => {
    const path = join(files, 'sleeper');
    writeFileSync(path, Buffer.concat([readFileSync('/bin/sleep'), Buffer.from([1])]));
    chmodSync(path, 0o755);
    const bytes = readFileSync(path);
    const { spawn } = await import('node:child_process');
    const child = spawn(path, ['300'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const st = statSync(`/proc/${child.pid}/exe`);
      rmSync(path);
      const v = await vault();
      const meta = await v.quarantine({ path, readVia: `/proc/${child.pid}/exe`, file: { dev: st.dev, ino: st.ino } }, { sha256: sha256(bytes) }, { actionId: 'a7' });
      expect(meta).toMatchObject({ path, size: bytes.length, fromProcess: true });
      await v.restore(meta.quarantineId);
      expect(readFileSync(path).equals(bytes)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
