import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';

describe('cordon rulepacks (against a real server)', () => {
  let h: Harness;
  let conn: string[];
  let dir: string;
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.admin];
    dir = mkdtempSync(join(tmpdir(), 'cordon-cli-rulepacks-'));
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cordon = async (...args: string[]) => ({ out: await runCordon([...args, ...conn], { quiet: true }) });

  it('uploads a .yar file named after it, lists, shows and deletes it', async () => {
    const source = 'rule Cli_Test\n{\n  strings:\n    $a = "cli-marker"\n  condition:\n    $a\n}\n';
    writeFileSync(join(dir, 'webshells.yar'), source);
    const up = await cordon('rulepacks', 'upload', join(dir, 'webshells.yar'), '--description', 'from the IR team');
    expect(up.out).toMatch(/│ webshells\s*│ 1\s*│ 1\s*│ admin/);
    const list = JSON.parse((await cordon('rulepacks', 'list', '--json')).out) as { name: string }[];
    expect(list.map((p) => p.name)).toEqual(['cordon-default', 'webshells']);
    expect((await cordon('rulepacks', 'list')).out).toMatch(/cordon-default\s*│ built in/);
    expect((await cordon('rulepacks', 'show', 'webshells')).out).toBe(source);
    expect((await cordon('rulepacks', 'delete', 'webshells', '--comment', 'replaced')).out).toBe('deleted rule pack webshells\n');
    await expect(cordon('rulepacks', 'show', 'webshells')).rejects.toThrow(/Rule pack webshells was not found/);
  });

  it("refuses a pack that does not compile with the compiler's errors as file:line:column", async () => {
    writeFileSync(join(dir, 'bad.yar'), 'rule a {\n  condition:\n    nope\n}\nrule b { strings: $x = "q" condition: true }\n');
    await expect(cordon('rulepacks', 'upload', join(dir, 'bad.yar'))).rejects.toThrow('The rule pack does not compile:\nbad.yar:3:5: unknown identifier `nope` (E009)\nbad.yar:5:19: unused pattern `$x` (E022)');
    await expect(cordon('rulepacks', 'upload', join(dir, 'missing.yar'))).rejects.toThrow(/cannot read .*missing\.yar/);
  });
});

describe('cordon scan-policy (against a real server)', () => {
  let h: Harness;
  let conn: string[];
  beforeAll(async () => {
    h = await startHarness();
    conn = ['--server', (await h.server.listen()).apiUrl, '--token', h.tokens.admin];
  });
  afterAll(async () => {
    await h.close();
  });

  const cordon = (...args: string[]) => runCordon([...args, ...conn], { quiet: true });

  it('sets, lists and deletes the global and a tag policy, refusing a share out of range', async () => {
    await cordon('scan-policy', 'set', '--cpu', '40');
    await cordon('scan-policy', 'set', '--tag', 'web', '--cpu', '25', '--comment', 'busy');
    expect(JSON.parse(await cordon('scan-policy', 'list', '--json')).map((p: { tag: string | null; cpuPercent: number }) => [p.tag, p.cpuPercent])).toEqual([
      [null, 40],
      ['web', 25],
    ]);
    await expect(cordon('scan-policy', 'set', '--cpu', '3')).rejects.toThrow("--cpu takes a whole percent from 5 to 100, not '3'");
    expect(await cordon('scan-policy', 'delete', '--tag', 'web')).toBe("deleted the scan policy of tag 'web'\n");
  });
});
