import { describe, expect, it } from 'vitest';
import type { Content } from '../content/store.js';
import { ScanRules } from './rules.js';

const bundle = (packs: { name: string; source: string }[]) => Buffer.from(JSON.stringify({ format: 'cordon-rulepacks/v1', packs: packs.map((p, i) => ({ ...p, version: i + 1, sha256: '0'.repeat(64) })) }));
const GOOD = { name: 'team', source: 'rule Team { strings: $a = "team-marker" condition: $a }' };

/** A content store holding one rule-pack bundle (or none). */
const storeOf = (bytes: Buffer | null, version = 3) => ({ load: (): Content | null => (bytes ? { bytes, manifest: { kind: 'rulepack', name: 'default', version, createdAt: '2026-11-30T00:00:00.000Z', sha256: '0'.repeat(64), size: bytes.length } } : null) });

describe('ScanRules', () => {
  it('uses the built-in pack alone until a bundle is installed, then both, naming each rule\'s pack', () => {
    expect(new ScanRules(storeOf(null)).current()).toMatchObject({ packs: [], contentVersion: null });
    const r = new ScanRules(storeOf(bundle([GOOD]))).current();
    expect(r).toMatchObject({ packs: [{ name: 'team', version: 1 }], contentVersion: 3 });
    expect(r.packOf.get('Team')).toBe('team');
    expect(r.packOf.get('EICAR_Test_File')).toBe('cordon-default');
    expect(r.rules.scan(Buffer.from('.. team-marker ..')).map((m) => m.ruleIdentifier)).toEqual(['Team']);
  });

  it('refuses, before it is installed, a bundle this agent cannot compile or read', () => {
    expect(ScanRules.check(bundle([GOOD]))).toBeNull();
    expect(ScanRules.check(bundle([{ name: 'bad', source: 'rule x { condition: nope }' }]))).toMatch(/^the rule packs do not compile here: bad line 1, column 21: unknown identifier `nope`/);
    expect(ScanRules.check(bundle([{ name: 'dup', source: 'rule EICAR_Test_File { condition: true }' }]))).toMatch(/duplicate rule/);
    expect(ScanRules.check(Buffer.from('{"format":"other"}'))).toMatch(/^not a rule-pack bundle/);
  });

  it('keeps the rules in use when the installed bundle no longer compiles', () => {
    let bytes = bundle([GOOD]);
    const rules = new ScanRules({ load: () => storeOf(bytes).load() });
    expect(rules.current().packs).toHaveLength(1);
    bytes = bundle([{ name: 'bad', source: 'rule x { condition: nope }' }]);
    expect(() => rules.reload()).toThrow(/unknown identifier/);
    expect(rules.current().packs).toEqual([{ name: 'team', version: 1 }]);
  });
});
