import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RulePacksContent, verifyContent } from '@cordon/protocol';
import { startHarness, type Harness } from '../testing/harness.js';

// Rule packs against a real server and store (SQLite, and PostgreSQL in the postgres project).
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const MINER = 'rule Test_Miner : miner\n{\n  meta:\n    severity = "High"\n  strings:\n    $a = "stratum+tcp://"\n  condition:\n    $a\n}\n';
const upload = (body: unknown, token?: string) => h.call('POST', '/api/rulepacks', { body, token });

/** The rule packs agents get (verified against the server key), or null before any was published. */
async function published(): Promise<{ version: number; content: RulePacksContent } | null> {
  const latest = await h.server.services.content.latest('rulepack', 'default');
  if (!latest) return null;
  const chunks: Buffer[] = [];
  for await (const c of (await h.server.services.content.bytes('rulepack', 'default', latest.manifest.version))!.read(0)) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  expect(verifyContent(latest.signed, bytes, h.server.keys.signingPublicKeyPem, { kind: 'rulepack', name: 'default' })).toMatchObject({ ok: true });
  return { version: latest.manifest.version, content: RulePacksContent.parse(JSON.parse(bytes.toString('utf8'))) };
}

describe('rule packs', () => {
  it('lists the built-in pack before anything is uploaded, with its source', async () => {
    const list = await h.call('GET', '/api/rulepacks', { token: h.tokens.viewer });
    expect(list.status).toBe(200);
    expect(list.body.value).toEqual([expect.objectContaining({ name: 'cordon-default', builtIn: true, version: null, ruleCount: expect.any(Number) })]);
    const one = await h.call('GET', '/api/rulepacks/cordon-default', { token: h.tokens.viewer });
    expect(one.body.source).toContain('rule EICAR_Test_File');
    expect(await published()).toBeNull();
  });

  it('uploads a pack (201), audited and published to agents; the same again is 200 and changes nothing; a new source is version 2', async () => {
    const r = await upload({ name: 'miners', description: 'coin miners', source: MINER, comment: 'from the IR team' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'miners', version: 1, description: 'coin miners', ruleCount: 1, uploadedBy: 'admin', builtIn: false, source: MINER, versions: [{ version: 1, deletedAt: null }] });
    expect((await h.server.services.audit.list(5, 0)).find((a) => a.action === 'UploadRulePack' && a.outcome === 'Succeeded')).toMatchObject({ actor: 'admin', targetType: 'rulepack', targetId: 'miners', comment: 'from the IR team', detail: { version: 1, ruleCount: 1 } });
    const first = await published();
    expect(first?.content.packs).toEqual([{ name: 'miners', version: 1, sha256: r.body.sha256, source: MINER }]);

    const again = await upload({ name: 'miners', description: 'coin miners', source: MINER });
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(1);
    expect((await published())?.version).toBe(first!.version);

    const v2 = await upload({ name: 'miners', description: 'coin miners', source: MINER.replace('stratum+tcp', 'stratum+ssl') });
    expect(v2.status).toBe(201);
    expect(v2.body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect((await published())?.content.packs.map((p) => [p.name, p.version])).toEqual([['miners', 2]]);
    expect((await h.call('GET', '/api/rulepacks')).body.value.map((p: { name: string; version: number | null }) => [p.name, p.version])).toEqual([
      ['cordon-default', null],
      ['miners', 2],
    ]);
  });

  it('refuses a pack that does not compile with every compiler error, placed by line and column, and stores nothing', async () => {
    const r = await upload({ name: 'broken', source: 'rule a {\n  condition:\n    nope\n}\nrule b { strings: $x = "q" condition: true }\n' });
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({
      code: 'InvalidRulePack',
      message: 'The rule pack does not compile: broken line 3, column 5: unknown identifier `nope` (E009)',
      target: 'source',
      details: [
        { code: 'E009', message: 'broken: unknown identifier `nope`', target: 'source:3:5' },
        { code: 'E022', message: 'broken: unused pattern `$x`', target: 'source:5:19' },
      ],
    });
    expect((await h.call('GET', '/api/rulepacks')).body.value).toHaveLength(1);
    expect(await published()).toBeNull();
    expect((await h.server.services.audit.list(1, 0))[0]).toMatchObject({ action: 'UploadRulePack', outcome: 'Refused', targetType: 'rulepack' });
  });

  it('refuses a rule whose name another pack in force declares (rule names are shared), naming it', async () => {
    expect((await upload({ name: 'one', source: MINER })).status).toBe(201);
    const r = await upload({ name: 'two', source: MINER });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/^The rule pack does not compile with the packs in force: two line 1, column 6: duplicate rule `Test_Miner`/);
    const builtIn = await upload({ name: 'three', source: 'rule EICAR_Test_File { condition: false }' });
    expect(builtIn.body.error.message).toMatch(/duplicate rule `EICAR_Test_File`/);
    // Replacing a pack's own rule is no clash.
    expect((await upload({ name: 'one', source: MINER.replace('High', 'Low') })).status).toBe(201);
  });

  it('checks names, size and emptiness with clear errors', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ name: '../etc', source: MINER }, 'name', /^name: "\.\.\/etc" must be 1-64 letters/],
      [{ name: 'cordon-default', source: MINER }, 'name', /built-in pack's name/],
      [{ name: 'empty', source: '  \n' }, 'source', /empty/],
      [{ name: 'x', source: MINER, extra: 1 }, 'extra', /./],
      [{ name: 'x' }, 'Source', /required/],
    ];
    for (const [body, target, message] of cases) {
      const r = await upload(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.target, JSON.stringify(body)).toBe(target);
      expect(r.body.error.message, JSON.stringify(body)).toMatch(message);
    }
  });

  it('deletes a pack (204): gone from the list and from what agents get, every version kept and marked', async () => {
    await upload({ name: 'miners', source: MINER });
    await upload({ name: 'other', source: 'rule Other { strings: $a = "other-marker" condition: $a }' });
    const del = await h.call('DELETE', '/api/rulepacks/miners?comment=false%20positives');
    expect(del.status).toBe(204);
    expect((await h.call('GET', '/api/rulepacks')).body.value.map((p: { name: string }) => p.name)).toEqual(['cordon-default', 'other']);
    expect((await published())?.content.packs.map((p) => p.name)).toEqual(['other']);
    expect((await h.call('GET', '/api/rulepacks/miners')).status).toBe(404);
    expect((await h.call('DELETE', '/api/rulepacks/miners')).status).toBe(404);
    expect((await h.call('DELETE', '/api/rulepacks/cordon-default')).status).toBe(400);
    expect((await h.server.services.audit.list(5, 0)).find((a) => a.action === 'DeleteRulePack' && a.outcome === 'Succeeded')).toMatchObject({ targetId: 'miners', comment: 'false positives' });
    // Uploaded again, it goes on from the versions it had.
    expect((await upload({ name: 'miners', source: MINER })).body.version).toBe(2);
  });

  it('only admins change packs; viewers read them', async () => {
    expect((await upload({ name: 'x', source: MINER }, h.tokens.responder)).status).toBe(403);
    expect((await h.call('DELETE', '/api/rulepacks/x', { token: h.tokens.responder })).status).toBe(403);
    expect((await h.call('GET', '/api/rulepacks', { token: h.tokens.viewer })).status).toBe(200);
  });
});
