// The one config loader of every Cordon process (server, agent). Exported as `@cordon/protocol/config`,
// not from the package index: it reads files (node:fs) and the console bundles the index.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';

/** One declared key: its schema (with the default applied, or optional), default and help text. */
export interface Setting<S extends z.ZodType = z.ZodType> {
  readonly schema: S;
  /** The default as a user would write it (shown in help and the README); undefined: the key is optional. */
  readonly default: unknown;
  readonly help: string;
  /** Older environment names still honoured when the derived one is unset. */
  readonly envAliases: readonly string[];
  /** False for a key that locates the file (dataDir): setting it inside that file could not take effect. */
  readonly inFile: boolean;
  /** True for a value that may hold a password (a database URL): errors never repeat it. */
  readonly secret: boolean;
}

interface SettingOptions {
  help: string;
  envAliases?: string[];
  inFile?: boolean;
  secret?: boolean;
}

/**
 * Declares a key. With a `default` the key always has a value (the default goes through the schema
 * too, so transforms apply and a bad default fails the first load); without one it is optional.
 */
export function setting<S extends z.ZodType>(schema: S, o: SettingOptions & { default: z.input<S> }): Setting<z.ZodPrefault<S>>;
export function setting<S extends z.ZodType>(schema: S, o: SettingOptions): Setting<z.ZodOptional<S>>;
export function setting<S extends z.ZodType>(schema: S, o: SettingOptions & { default?: z.input<S> }): Setting {
  const hasDefault = 'default' in o && o.default !== undefined;
  return {
    schema: hasDefault ? schema.prefault(o.default as never) : schema.optional(),
    default: hasDefault ? o.default : undefined,
    help: o.help,
    envAliases: o.envAliases ?? [],
    inFile: o.inFile ?? true,
    secret: o.secret ?? false,
  };
}

export type Settings = Record<string, Setting>;
export type ConfigShape<D extends Settings> = { -readonly [K in keyof D]: D[K]['schema'] };
/** The loaded config: every key with a default has a value. */
export type ConfigOf<D extends Settings> = z.output<z.ZodObject<ConfigShape<D>, z.core.$strict>>;
/** Flags and programmatic overrides: a key's own type, or text (as a command line gives it) to coerce. */
export type ConfigFlags<D extends Settings> = { [K in keyof D]?: z.input<D[K]['schema']> | string };

/** Where a value came from, for error messages. */
export type ConfigSource = { kind: 'flag'; name: string; raw: unknown } | { kind: 'env'; name: string; raw: string } | { kind: 'file'; name: string } | { kind: 'default' };

/** One thing wrong with the configuration. */
export interface ConfigProblem {
  /** The key (`tags.2` inside a list), or `(file)` for the file as a whole. */
  key: string;
  source: ConfigSource;
  message: string;
}

/** Every problem with a configuration at once; its message lists them one per line (no stack needed). */
export class ConfigError extends Error {
  constructor(
    what: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`Invalid ${what} configuration:\n${problems.map((p) => `  ${p.key}: ${p.message}${describeSource(p.source)}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describeSource(s: ConfigSource): string {
  switch (s.kind) {
    case 'flag':
      return ` (flag ${s.name}${typeof s.raw === 'string' ? ` ${JSON.stringify(s.raw)}` : ''})`;
    case 'env':
      return ` (env ${s.name}=${JSON.stringify(s.raw)})`;
    case 'file':
      return ` (file ${s.name})`;
    case 'default':
      return ' (default)';
  }
}

/** `heartbeatSeconds` -> `HEARTBEAT_SECONDS`. */
export function screamingSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** `heartbeatSeconds` -> `--heartbeat-seconds`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

type Kind = 'number' | 'boolean' | 'list' | 'text';

/** What a key holds underneath optional/default/transform wrappers: decides how text is coerced. */
function kindOf(schema: z.ZodType): { kind: Kind; element?: Kind } {
  const def = schema.def as { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType };
  switch (def.type) {
    case 'number':
      return { kind: 'number' };
    case 'boolean':
      return { kind: 'boolean' };
    case 'array':
      return { kind: 'list', element: def.element ? kindOf(def.element).kind : 'text' };
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
      return def.innerType ? kindOf(def.innerType) : { kind: 'text' };
    case 'pipe':
      return def.in ? kindOf(def.in) : { kind: 'text' };
    default:
      return { kind: 'text' };
  }
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function coerceScalar(text: string, kind: Kind): unknown {
  const t = text.trim();
  if (kind === 'number') {
    const n = Number(t);
    // Text that is not a number stays text, so the schema says "expected number" with the value shown.
    return t !== '' && Number.isFinite(n) ? n : text;
  }
  if (kind === 'boolean') {
    const l = t.toLowerCase();
    return TRUE.has(l) ? true : FALSE.has(l) ? false : text;
  }
  return text;
}

/** Text (an environment variable, a flag, a string in the file) becomes the key's type; lists are comma-separated. */
function coerce(value: unknown, shape: { kind: Kind; element?: Kind }): unknown {
  if (typeof value !== 'string') return value;
  if (shape.kind === 'list') {
    return value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => coerceScalar(s, shape.element ?? 'text'));
  }
  return coerceScalar(value, shape.kind);
}

/** One row of `describe()`: what `--help` and the README show. */
export interface SettingDoc {
  key: string;
  env: string;
  envAliases: readonly string[];
  flag: string;
  default: unknown;
  help: string;
}

export interface LoadOptions<D extends Settings> {
  flags?: ConfigFlags<D>;
  env?: Record<string, string | undefined>;
  /**
   * The JSON file's path, or a function giving it from the values flags, environment and defaults
   * provide (so `dataDir` can locate it). A missing file is no error.
   */
  file?: string | ((early: Partial<Record<keyof D, unknown>>) => string | undefined);
}

export interface Config<D extends Settings> {
  readonly name: string;
  readonly envPrefix: string;
  readonly keys: D;
  /** The strict object schema of the loaded config. */
  readonly schema: z.ZodObject<ConfigShape<D>, z.core.$strict>;
  /** The environment variable derived from a key: prefix + SCREAMING_SNAKE. */
  envName(key: keyof D & string): string;
  describe(): SettingDoc[];
  /** Loads file < environment < flags; throws one ConfigError listing every problem. */
  load(opts?: LoadOptions<D>): ConfigOf<D>;
}

/** Declares a process's configuration: every key once, with its schema, default and help text. */
export function defineConfig<D extends Settings>(spec: { name: string; envPrefix: string; keys: D }): Config<D> {
  const keys = Object.keys(spec.keys) as (keyof D & string)[];
  const shape = Object.fromEntries(keys.map((k) => [k, spec.keys[k]!.schema])) as ConfigShape<D>;
  const schema = z.strictObject(shape);
  const envName = (key: string) => spec.envPrefix + screamingSnake(key);
  const kinds = new Map(keys.map((k) => [k, kindOf(spec.keys[k]!.schema)]));
  const order = new Map<string, number>(keys.map((k, i) => [k, i]));

  const envNames = new Map<string, string>();
  for (const k of keys) {
    for (const name of [envName(k), ...spec.keys[k]!.envAliases]) {
      const other = envNames.get(name);
      if (other) throw new Error(`${spec.name} config: ${k} and ${other} both read ${name}`);
      envNames.set(name, k);
    }
  }

  function load(opts: LoadOptions<D> = {}): ConfigOf<D> {
    const env = opts.env ?? {};
    const problems: ConfigProblem[] = [];
    const values: Record<string, unknown> = {};
    const sources: Record<string, ConfigSource> = {};
    const set = (key: string, raw: unknown, source: ConfigSource) => {
      values[key] = coerce(raw, kinds.get(key as keyof D & string)!);
      sources[key] = spec.keys[key]?.secret && 'raw' in source ? { ...source, raw: '(value hidden)' } : source;
    };

    // Lowest priority first: each later source overwrites.
    const fromEnv: [string, string, string][] = [];
    for (const k of keys) {
      const name = [envName(k), ...spec.keys[k]!.envAliases].find((n) => env[n] !== undefined && env[n] !== '');
      if (name) fromEnv.push([k, name, env[name]!]);
    }
    const fromFlags: [string, unknown][] = [];
    for (const [k, v] of Object.entries(opts.flags ?? {})) {
      if (v === undefined) continue;
      if (!order.has(k)) problems.push({ key: k, source: { kind: 'flag', name: flagName(k), raw: v }, message: 'unknown key' });
      else fromFlags.push([k, v]);
    }

    const early: Record<string, unknown> = {};
    for (const k of keys) if (spec.keys[k]!.default !== undefined) early[k] = spec.keys[k]!.default;
    for (const [k, , v] of fromEnv) early[k] = v;
    for (const [k, v] of fromFlags) early[k] = v;
    const file = typeof opts.file === 'function' ? opts.file(early as Partial<Record<keyof D, unknown>>) : opts.file;
    if (file !== undefined) readFile(file, problems, (k, v) => set(k, v, { kind: 'file', name: file }));

    for (const [k, name, v] of fromEnv) set(k, v, { kind: 'env', name, raw: v });
    for (const [k, v] of fromFlags) set(k, v, { kind: 'flag', name: flagName(k), raw: v });

    const parsed = schema.safeParse(values);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = String(issue.path[0] ?? '(config)');
        problems.push({ key: issue.path.map(String).join('.') || key, source: sources[key] ?? { kind: 'default' }, message: issue.message });
      }
    }
    if (problems.length > 0) {
      // Declaration order, so the same mistakes always read the same; file-wide problems first.
      const rank = (p: ConfigProblem) => (p.key === '(file)' ? -1 : (order.get(p.key.split('.')[0]!) ?? keys.length));
      throw new ConfigError(spec.name, problems.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i).map(({ p }) => p));
    }
    return parsed.data as ConfigOf<D>;
  }

  function readFile(file: string, problems: ConfigProblem[], set: (key: string, value: unknown) => void): void {
    const source: ConfigSource = { kind: 'file', name: file };
    if (!existsSync(file)) return;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      problems.push({ key: '(file)', source, message: e instanceof SyntaxError ? `not valid JSON: ${e.message}` : `cannot be read: ${(e as Error).message}` });
      return;
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      problems.push({ key: '(file)', source, message: 'must be a JSON object of keys' });
      return;
    }
    for (const [k, v] of Object.entries(data)) {
      if (!order.has(k)) problems.push({ key: k, source, message: `unknown key (known: ${keys.join(', ')})` });
      else if (!spec.keys[k]!.inFile) problems.push({ key: k, source, message: 'cannot be set in the file: it locates the file (use the flag or the environment)' });
      else set(k, v);
    }
  }

  return {
    name: spec.name,
    envPrefix: spec.envPrefix,
    keys: spec.keys,
    schema,
    envName,
    describe: () =>
      keys.map((k) => ({ key: k, env: envName(k), envAliases: spec.keys[k]!.envAliases, flag: flagName(k), default: spec.keys[k]!.default, help: spec.keys[k]!.help })),
    load,
  };
}

/** Help text as a table cell: `|` would end the cell and `<x>` would read as an HTML tag. */
function cell(text: string): string {
  return text.replace(/[|<]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
}

function showDefault(v: unknown): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) return v.length === 0 ? 'none' : `\`${v.join(',')}\``;
  return `\`${String(v)}\``;
}

/** The Markdown table of a config's keys, as the README shows it. */
export function renderConfigTable(config: Pick<Config<Settings>, 'describe'>): string {
  const rows = config.describe().map((d) => `| \`${d.key}\` | \`${d.env}\`${d.envAliases.map((a) => `, \`${a}\``).join('')} | ${showDefault(d.default)} | ${cell(d.help)} |`);
  return ['| key | env | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** Replaces (or with `replace` undefined, returns) the text between `<!-- config:NAME -->` and `<!-- /config:NAME -->`. */
export function readmeSection(readme: string, name: string): { text: string; replace(body: string): string } {
  const start = `<!-- config:${name} -->`;
  const end = `<!-- /config:${name} -->`;
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README has no ${start} ... ${end} section`);
  const from = i + start.length;
  return {
    text: readme.slice(from, j).trim(),
    replace: (body) => `${readme.slice(0, from)}\n${body}\n${readme.slice(j)}`,
  };
}
