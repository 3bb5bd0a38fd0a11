import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, defineConfig, flagName, readmeSection, renderConfigTable, screamingSnake, setting, type ConfigProblem } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A JSON file with `content` (an object is serialized; a string is written as is). */
function file(content: unknown): string {
  const path = join(dir, `c${n++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const demo = defineConfig({
  name: 'demo',
  envPrefix: 'DEMO_',
  keys: {
    dataDir: setting(z.string().min(1), { default: '/data', inFile: false, help: 'where the file is' }),
    heartbeatSeconds: setting(z.number().int().min(1).max(3600), { default: 30, help: 'seconds between heartbeats' }),
    ratio: setting(z.number().min(0.1), { default: 1.5, help: 'a fraction' }),
    verbose: setting(z.boolean(), { default: false, help: 'talk more' }),
    tags: setting(z.array(z.string().min(1)).max(3), { default: [], help: 'labels' }),
    ports: setting(z.array(z.number().int()), { default: [80], help: 'numbers in a list' }),
    level: setting(z.enum(['info', 'debug']), { default: 'info', help: 'log level' }),
    publicUrl: setting(z.string().url(), { help: 'optional, no default' }),
    oldName: setting(z.string(), { default: 'x', envAliases: ['LEGACY_OLD'], help: 'kept under an old environment name' }),
    upper: setting(z.string().transform((s) => s.toUpperCase()), { default: 'abc', help: 'defaults go through the schema' }),
  },
});

function problems(f: () => unknown): ConfigProblem[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('names', () => {
  it.each([
    ['heartbeatSeconds', 'HEARTBEAT_SECONDS', '--heartbeat-seconds'],
    ['dataDir', 'DATA_DIR', '--data-dir'],
    ['port', 'PORT', '--port'],
    ['publicApiUrl', 'PUBLIC_API_URL', '--public-api-url'],
    ['isolationConfirmSeconds', 'ISOLATION_CONFIRM_SECONDS', '--isolation-confirm-seconds'],
  ])('%s -> %s, %s', (key, env, flag) => {
    expect(screamingSnake(key)).toBe(env);
    expect(flagName(key)).toBe(flag);
  });

  it('derives env names from the prefix and the key', () => {
    expect(demo.envName('heartbeatSeconds')).toBe('DEMO_HEARTBEAT_SECONDS');
    expect(demo.describe().map((d) => d.env)).toEqual(['DEMO_DATA_DIR', 'DEMO_HEARTBEAT_SECONDS', 'DEMO_RATIO', 'DEMO_VERBOSE', 'DEMO_TAGS', 'DEMO_PORTS', 'DEMO_LEVEL', 'DEMO_PUBLIC_URL', 'DEMO_OLD_NAME', 'DEMO_UPPER']);
  });

  it('refuses a declaration where two keys read the same environment variable', () => {
    expect(() => defineConfig({ name: 'x', envPrefix: 'X_', keys: { a: setting(z.string(), { help: '' }), b: setting(z.string(), { help: '', envAliases: ['X_A'] }) } })).toThrow(/b and a both read X_A/);
  });
});

describe('defaults', () => {
  it('gives every defaulted key its default, leaves optional keys out, and runs defaults through the schema', () => {
    expect(demo.load()).toEqual({ dataDir: '/data', heartbeatSeconds: 30, ratio: 1.5, verbose: false, tags: [], ports: [80], level: 'info', oldName: 'x', upper: 'ABC' });
  });
});

describe('priority: file < environment < flags', () => {
  const f = file({ heartbeatSeconds: 10, level: 'debug', tags: ['from-file'] });
  it.each([
    ['file only', {}, {}, { heartbeatSeconds: 10, level: 'debug', tags: ['from-file'] }],
    ['env over file', { DEMO_HEARTBEAT_SECONDS: '20' }, {}, { heartbeatSeconds: 20, level: 'debug', tags: ['from-file'] }],
    ['flag over env and file', { DEMO_HEARTBEAT_SECONDS: '20' }, { heartbeatSeconds: 40 }, { heartbeatSeconds: 40, level: 'debug', tags: ['from-file'] }],
    ['flag as text over file', {}, { heartbeatSeconds: '41', tags: 'a,b' }, { heartbeatSeconds: 41, level: 'debug', tags: ['a', 'b'] }],
    ['empty env is unset', { DEMO_HEARTBEAT_SECONDS: '' }, {}, { heartbeatSeconds: 10, level: 'debug', tags: ['from-file'] }],
    ['undefined flag is unset', { DEMO_LEVEL: 'info' }, { level: undefined }, { heartbeatSeconds: 10, level: 'info', tags: ['from-file'] }],
  ] as const)('%s', (_name, env, flags, expected) => {
    expect(demo.load({ file: f, env, flags })).toMatchObject(expected);
  });

  it('a missing file is no error', () => {
    expect(demo.load({ file: join(dir, 'absent.json') }).heartbeatSeconds).toBe(30);
  });

  it('locates the file from flags, environment and defaults (in that priority)', () => {
    const seen: unknown[] = [];
    const locate = (early: Partial<Record<string, unknown>>) => {
      seen.push(early.dataDir);
      return undefined;
    };
    demo.load({ file: locate });
    demo.load({ file: locate, env: { DEMO_DATA_DIR: '/env' } });
    demo.load({ file: locate, env: { DEMO_DATA_DIR: '/env' }, flags: { dataDir: '/flag' } });
    expect(seen).toEqual(['/data', '/env', '/flag']);
  });

  it('reads an alias when the derived name is unset, and prefers the derived name', () => {
    expect(demo.load({ env: { LEGACY_OLD: 'old' } }).oldName).toBe('old');
    expect(demo.load({ env: { LEGACY_OLD: 'old', DEMO_OLD_NAME: 'new' } }).oldName).toBe('new');
  });
});

describe('coercion of text (environment, flags, strings in the file)', () => {
  it.each([
    ['integer', 'DEMO_HEARTBEAT_SECONDS', '42', { heartbeatSeconds: 42 }],
    ['integer with spaces', 'DEMO_HEARTBEAT_SECONDS', ' 42 ', { heartbeatSeconds: 42 }],
    ['fraction', 'DEMO_RATIO', '0.5', { ratio: 0.5 }],
    ['boolean true', 'DEMO_VERBOSE', 'true', { verbose: true }],
    ['boolean 1', 'DEMO_VERBOSE', '1', { verbose: true }],
    ['boolean YES', 'DEMO_VERBOSE', 'YES', { verbose: true }],
    ['boolean off', 'DEMO_VERBOSE', 'off', { verbose: false }],
    ['boolean 0', 'DEMO_VERBOSE', '0', { verbose: false }],
    ['list', 'DEMO_TAGS', 'pci, kiosk', { tags: ['pci', 'kiosk'] }],
    ['list drops empty items', 'DEMO_TAGS', ' a,,b , ', { tags: ['a', 'b'] }],
    ['list of numbers', 'DEMO_PORTS', '80,443', { ports: [80, 443] }],
    ['enum', 'DEMO_LEVEL', 'debug', { level: 'debug' }],
    ['string kept as is', 'DEMO_PUBLIC_URL', 'https://x.example/', { publicUrl: 'https://x.example/' }],
  ] as const)('%s: %s=%j', (_name, name, value, expected) => {
    expect(demo.load({ env: { [name]: value } })).toMatchObject(expected);
  });

  it('coerces numeric strings in the file too (as the schemas did with z.coerce before)', () => {
    expect(demo.load({ file: file({ heartbeatSeconds: '15', verbose: 'true' }) })).toMatchObject({ heartbeatSeconds: 15, verbose: true });
  });

  it.each([
    ['not a number', 'DEMO_HEARTBEAT_SECONDS', 'soon', /expected number, received string/],
    ['out of range', 'DEMO_HEARTBEAT_SECONDS', '0', /Too small/],
    ['not an integer', 'DEMO_HEARTBEAT_SECONDS', '1.5', /expected int/],
    ['not a boolean', 'DEMO_VERBOSE', 'maybe', /expected boolean/],
    ['too many list items', 'DEMO_TAGS', 'a,b,c,d', /Too big/],
    ['not in the enum', 'DEMO_LEVEL', 'loud', /Invalid option/],
  ] as const)('refuses %s', (_name, name, value, message) => {
    const p = problems(() => demo.load({ env: { [name]: value } }));
    expect(p).toHaveLength(1);
    expect(p[0]!.message).toMatch(message);
    expect(p[0]!.source).toEqual({ kind: 'env', name, raw: value });
  });
});

describe('failing fast with every problem listed', () => {
  it('lists every bad key at once, with its source, in declaration order', () => {
    const f = file({ ratio: 0, nope: 1, level: 'loud', dataDir: '/elsewhere' });
    let error: ConfigError | undefined;
    try {
      demo.load({ file: f, env: { DEMO_HEARTBEAT_SECONDS: 'x', DEMO_PUBLIC_URL: 'not a url' }, flags: { verbose: 'maybe', ports: '1,two' } as never });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => [p.key, p.source.kind])).toEqual([
      ['dataDir', 'file'],
      ['heartbeatSeconds', 'env'],
      ['ratio', 'file'],
      ['verbose', 'flag'],
      ['ports.1', 'flag'],
      ['level', 'file'],
      ['publicUrl', 'env'],
      ['nope', 'file'],
    ]);
    // One line per problem: key, what is wrong, where it came from. No stack trace in the message.
    const lines = error!.message.split('\n');
    expect(lines[0]).toBe('Invalid demo configuration:');
    expect(lines).toHaveLength(9);
    expect(lines).toContain(`  heartbeatSeconds: Invalid input: expected number, received string (env DEMO_HEARTBEAT_SECONDS="x")`);
    expect(lines).toContain(`  verbose: Invalid input: expected boolean, received string (flag --verbose "maybe")`);
    expect(lines.find((l) => l.startsWith('  nope:'))).toMatch(/^ {2}nope: unknown key \(known: dataDir, heartbeatSeconds, .*\) \(file .*c\d+\.json\)$/);
    expect(lines.find((l) => l.startsWith('  dataDir:'))).toMatch(/cannot be set in the file/);
    expect(error!.message).not.toMatch(/\n\s+at /);
  });

  it.each([
    ['unknown key', { heartbeatSeconds: 5, nope: true, other: 'x' }, ['nope', 'other'], /unknown key/],
    ['not JSON', '{"heartbeatSeconds": 5,', ['(file)'], /not valid JSON/],
    ['not an object', '[1, 2]', ['(file)'], /must be a JSON object/],
    ['null', 'null', ['(file)'], /must be a JSON object/],
  ] as const)('refuses a file with %s', (_name, content, keys, message) => {
    const p = problems(() => demo.load({ file: file(content) }));
    expect(p.map((x) => x.key)).toEqual(keys);
    for (const x of p) {
      expect(x.message).toMatch(message);
      expect(x.source.kind).toBe('file');
    }
  });

  it('reports a bad file together with bad environment values', () => {
    const p = problems(() => demo.load({ file: file('{oops'), env: { DEMO_RATIO: 'x' } }));
    expect(p.map((x) => x.key)).toEqual(['(file)', 'ratio']);
  });

  it('refuses an unknown flag', () => {
    const p = problems(() => demo.load({ flags: { nope: 1 } as never }));
    expect(p).toEqual([{ key: 'nope', source: { kind: 'flag', name: '--nope', raw: 1 }, message: 'unknown key' }]);
  });

  it('refuses a bad default when the config is first loaded', () => {
    const bad = defineConfig({ name: 'bad', envPrefix: 'B_', keys: { n: setting(z.number().min(10), { default: 1, help: '' }) } });
    expect(problems(() => bad.load())).toEqual([expect.objectContaining({ key: 'n', source: { kind: 'default' } })]);
  });
});

describe('docs', () => {
  it('renders a Markdown table with env names, aliases, defaults and escaped help', () => {
    const d = defineConfig({
      name: 'd',
      envPrefix: 'D_',
      keys: {
        aKey: setting(z.number(), { default: 3, help: 'one | two <x>' }),
        list: setting(z.array(z.string()), { default: [], help: 'l', envAliases: ['OLD_LIST'] }),
        opt: setting(z.string(), { help: 'o' }),
      },
    });
    expect(renderConfigTable(d)).toBe(
      ['| key | env | default | meaning |', '| --- | --- | --- | --- |', '| `aKey` | `D_A_KEY` | `3` | one \\| two \\<x> |', '| `list` | `D_LIST`, `OLD_LIST` | none | l |', '| `opt` | `D_OPT` |  | o |'].join('\n'),
    );
  });

  it('finds and replaces a marked README section', () => {
    const readme = 'intro\n<!-- config:d -->\nold\n<!-- /config:d -->\nrest\n';
    expect(readmeSection(readme, 'd').text).toBe('old');
    expect(readmeSection(readme, 'd').replace('new')).toBe('intro\n<!-- config:d -->\nnew\n<!-- /config:d -->\nrest\n');
    expect(() => readmeSection(readme, 'other')).toThrow(/no <!-- config:other -->/);
  });
});
