import { describe, expect, it } from 'vitest';
import { builtInRules, compileRules, countRules, loadRules, problemsOf, RulesCompileError } from './index.js';

// Built at run time from two halves: the repository holds no EICAR file.
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*');

describe('YARA rules', () => {
  it('compiles the built-in pack, which finds EICAR and nothing in clean bytes', () => {
    const { rules, ruleCount } = compileRules([{ name: 'cordon-default', source: builtInRules() }]);
    expect(ruleCount).toBeGreaterThan(0);
    expect(rules.scan(Buffer.concat([Buffer.alloc(1000), EICAR])).map((m) => m.ruleIdentifier)).toContain('EICAR_Test_File');
    expect(rules.scan(Buffer.from('nothing to see here'))).toEqual([]);
  });

  it('places an error in the pack and line it is in, when packs compile together', () => {
    const a = { name: 'first', source: 'rule one {\n  strings:\n    $a = "abc"\n  condition:\n    $a\n}' };
    const b = { name: 'second', source: '\nrule two {\n  condition:\n    nope\n}' };
    const err = (() => {
      try {
        compileRules([a, b]);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RulesCompileError);
    expect((err as RulesCompileError).problems[0]).toEqual({ pack: 'second', line: 4, column: 5, code: 'E009', message: 'unknown identifier `nope`' });
    expect((err as Error).message).toBe('second line 4, column 5: unknown identifier `nope` (E009)');
  });

  it('refuses a rule declared in two packs, naming the later one', () => {
    expect(() => compileRules([{ name: 'a', source: 'rule same { condition: true }' }, { name: 'b', source: 'rule same { condition: false }' }])).toThrow(/^b line 1, column 6: duplicate rule `same`/);
  });

  it('lists every error of one pack', () => {
    const problems = problemsOf({ name: 'p', source: 'rule x {\n condition:\n  nope\n}\nrule y { strings: $a = "q" condition: true }' });
    expect(problems.map((p) => [p.code, p.line, p.column])).toEqual([
      ['E009', 3, 3],
      ['E022', 5, 19],
    ]);
    expect(problemsOf({ name: 'p', source: 'rule fine { condition: filesize > 0 }' })).toEqual([]);
  });

  it('counts rules, not the word in comments or strings', () => {
    expect(countRules('// rule not_me\n/* rule nor_me */\nprivate rule a { condition: true }\nglobal private rule b { strings: $s = "rule c" condition: $s }\nrule d{condition:true}')).toBe(3);
  });

  it('a serialized copy scans as the original does', () => {
    const { rules } = compileRules([{ name: 'p', source: 'rule z { strings: $a = "zzz" condition: $a }' }]);
    expect(loadRules(rules.serialize()).scan(Buffer.from('..zzz..')).map((m) => m.ruleIdentifier)).toEqual(['z']);
  });
});

describe('ruleNames', () => {
  it('names each pack of a compiled set by rule', () => {
    const { packOf, ruleCount } = compileRules([
      { name: 'one', source: 'rule a { condition: true }\nprivate rule b { condition: false }' },
      { name: 'two', source: '// rule c\nrule d { condition: true }' },
    ]);
    expect(ruleCount).toBe(3);
    expect(Object.fromEntries(packOf)).toEqual({ a: 'one', b: 'one', d: 'two' });
  });
});
