import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, zipOf, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';
import { serverFileName } from './packages.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** `cordon package --action` against a real server: the file is saved under the name the server gives it. */
describe('cordon package: the saved file name', () => {
  let h: Harness;
  let conn: string[];
  let dir: string;
  const cwd = process.cwd();
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.admin];
    dir = mkdtempSync(join(tmpdir(), 'cordon-cli-pkg-'));
  });
  afterAll(async () => {
    process.chdir(cwd);
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A device with a completed package, finished at `completedAt`. */
  async function packageOf(hostname: string, completedAt: string): Promise<{ actionId: string; zip: Buffer }> {
    const machineId = await h.enroll({ hostname, agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] });
    const submitted = await h.call('POST', `/api/machines/${machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } });
    expect(submitted.status).toBe(201);
    const actionId = submitted.body.id as string;
    const zip = await zipOf(64 * 1024);
    h.clock.t = Date.parse(completedAt);
    await h.server.services.packages.uploadChunk(machineId, actionId, 0, zip, sha(zip));
    await h.server.services.packages.completeUpload(machineId, actionId, zip.length, sha(zip));
    h.clock.advance(60_000);
    return { actionId, zip };
  }

  const cordon = (...args: string[]): Promise<string> => runCordon(args, { quiet: true });

  it('is <host>-<UTC time>-investigation-package.zip in the current directory, the host name made safe', async () => {
    const { actionId, zip } = await packageOf('../web-01 "x"', '2026-11-30T01:02:03.456Z');
    process.chdir(dir);
    const out = JSON.parse(await cordon('package', '--action', actionId, ...conn, '--json'));
    const name = 'web-01_x-20261130T010203Z-investigation-package.zip';
    expect(out).toMatchObject({ actionId, file: name, sha256: sha(zip) });
    expect(readdirSync(dir)).toEqual([name]);
    expect(readFileSync(join(dir, name)).equals(zip)).toBe(true);
    // -o still chooses another name.
    await cordon('package', '--action', actionId, '-o', 'mine.zip', ...conn, '--json');
    expect(readdirSync(dir).sort()).toEqual(['mine.zip', name]);
  });

  it('never takes a path or a hidden file from the header', () => {
    expect(serverFileName('attachment; filename="web-01-20261130T010203Z-investigation-package.zip"')).toBe('web-01-20261130T010203Z-investigation-package.zip');
    for (const bad of ['attachment; filename="../x.zip"', 'attachment; filename="/etc/x.zip"', 'attachment; filename=".x.zip"', 'attachment; filename="a b.zip"', 'attachment; filename="x.sh"', 'attachment', null]) expect(serverFileName(bad), String(bad)).toBeUndefined();
  });
});
