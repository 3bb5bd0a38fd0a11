import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publicKeyFingerprint } from '@cordon/protocol';
import { startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';

describe('cordon library (against a real server)', () => {
  const key = generateKeyPairSync('ed25519');
  let h: Harness;
  let conn: string[];
  let dir: string;
  beforeAll(async () => {
    h = await startHarness({ libraryTrustedKeys: [key.publicKey.export({ type: 'spki', format: 'pem' }).toString()] });
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.admin];
    dir = mkdtempSync(join(tmpdir(), 'cordon-cli-library-'));
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cordon = (...args: string[]) => runCordon([...args, ...conn], { quiet: true });

  it('uploads a file under its own name or --name, signed or not, lists and deletes it; an existing name needs --override', async () => {
    const script = Buffer.from('#!/bin/sh\nfind "$1" -newer /etc/passwd\n');
    writeFileSync(join(dir, 'recent.sh'), script);
    writeFileSync(join(dir, 'recent.sh.sig'), `${sign(null, script, key.privateKey).toString('base64')}\n`);

    const up = JSON.parse(await cordon('library', 'upload', join(dir, 'recent.sh'), '--description', 'files changed lately', '--parameters', '<directory>', '--signature', join(dir, 'recent.sh.sig'), '--comment', 'IR-7', '--json'));
    expect(up).toMatchObject({ fileName: 'recent.sh', size: script.length, hasParameters: true, parametersDescription: '<directory>', description: 'files changed lately', signedBy: publicKeyFingerprint(key.publicKey), contentVersion: 1 });
    expect((await h.server.services.audit.list(5, 0)).find((a) => a.action === 'UploadLibraryFile')).toMatchObject({ comment: 'IR-7', outcome: 'Succeeded' });

    expect(await cordon('library', 'upload', join(dir, 'recent.sh'), '--name', 'recent-v2.sh')).toMatch(/│ recent-v2\.sh\s*│ \d+ B\s*│ [0-9a-f]{16}\s*│\s*│\s*│ admin/);
    await expect(cordon('library', 'upload', join(dir, 'recent.sh'))).rejects.toThrow('A library file named recent.sh exists already; send OverrideIfExists=true to replace it');
    expect(JSON.parse(await cordon('library', 'upload', join(dir, 'recent.sh'), '--override', '--json'))).toMatchObject({ contentVersion: 2, signedBy: null, hasParameters: false });

    const list = JSON.parse(await cordon('library', 'list', '--json')) as { fileName: string }[];
    expect(list.map((f) => f.fileName)).toEqual(['recent-v2.sh', 'recent.sh']);
    expect(await cordon('library', 'delete', 'recent-v2.sh', '--comment', 'duplicate')).toBe('deleted library file recent-v2.sh\n');
    await expect(cordon('library', 'delete', 'recent-v2.sh')).rejects.toThrow('Library file recent-v2.sh was not found');
  });

  it('says what is wrong: an unreadable file, a bad name, a signature that does not verify', async () => {
    await expect(cordon('library', 'upload', join(dir, 'missing.sh'))).rejects.toThrow(/cannot read .*missing\.sh/);
    writeFileSync(join(dir, 'tool.sh'), 'echo hi\n');
    await expect(cordon('library', 'upload', join(dir, 'tool.sh'), '--signature', join(dir, 'nope.sig'))).rejects.toThrow(/cannot read the signature file .*nope\.sig/);
    await expect(cordon('library', 'upload', join(dir, 'tool.sh'), '--name', 'my tool.sh')).rejects.toThrow(/File: the file name "my tool\.sh" must be 1-128 letters/);
    writeFileSync(join(dir, 'tool.sig'), sign(null, Buffer.from('echo other\n'), key.privateKey).toString('base64'));
    await expect(cordon('library', 'upload', join(dir, 'tool.sh'), '--signature', join(dir, 'tool.sig'))).rejects.toThrow(/^Signature: does not verify against the file with any trusted key/);
    expect(JSON.parse(await cordon('library', 'list', '--json')).map((f: { fileName: string }) => f.fileName)).not.toContain('tool.sh');
  });

  it('refuses a role without the permission', async () => {
    writeFileSync(join(dir, 'x.sh'), 'echo x\n');
    const asResponder = ['--server', conn[1]!, '--token', h.tokens.responder];
    await expect(runCordon(['library', 'upload', join(dir, 'x.sh'), ...asResponder], { quiet: true })).rejects.toThrow('The responder role does not have the library.write permission');
    expect(await runCordon(['library', 'list', '--json', '--server', conn[1]!, '--token', h.tokens.analyst], { quiet: true })).toMatch(/^\[/);
  });
});
