import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { yaraBinding, type YaraDiagnostic, type YaraRules } from './binding.js';

export type { YaraPatternMatch, YaraRuleMatch, YaraRules } from './binding.js';

/** One rule pack's YARA source, named (the name says where a detection's rule came from). */
export interface RuleSource {
  name: string;
  source: string;
}

/** A compiler error, placed in the pack it is in (line and column count from 1 within that pack). */
export interface RuleProblem {
  pack: string;
  line: number | null;
  column: number | null;
  /** YARA-X's error code (E009 …). */
  code: string;
  /** The error in one line ("unknown identifier `nope`"). */
  message: string;
}

/** Rules that do not compile: every problem found, the first one in the message. */
export class RulesCompileError extends Error {
  constructor(readonly problems: RuleProblem[]) {
    const p = problems[0]!;
    super(`${p.pack}${p.line === null ? '' : ` line ${p.line}${p.column === null ? '' : `, column ${p.column}`}`}: ${p.message} (${p.code})`);
  }
}

export interface CompiledRules {
  rules: YaraRules;
  /** How many rules the packs declare. */
  ruleCount: number;
  /** The pack each rule is declared in, by rule name (a detection names its pack). */
  packOf: Map<string, string>;
}

/**
 * Compiles packs into one set of rules: one scan of a file runs them all. Rule names are global
 * (YARA-X has no namespaces here), so two packs declaring the same rule do not compile together.
 * Includes are off: a pack is exactly the text that was uploaded and signed.
 */
export function compileRules(packs: readonly RuleSource[]): CompiledRules {
  // Each pack starts on a known line of the joined text, so an error's line maps back to its pack.
  const starts: { name: string; line: number }[] = [];
  let line = 1;
  const parts: string[] = [];
  for (const p of packs) {
    starts.push({ name: p.name, line });
    parts.push(p.source);
    line += p.source.split('\n').length;
  }
  const placed = (at: { line: number; column: number } | null): Pick<RuleProblem, 'pack' | 'line' | 'column'> => {
    if (!at) return { pack: packs.length === 1 ? packs[0]!.name : 'rules', line: null, column: null };
    const start = starts.findLast((s) => s.line <= at.line) ?? starts[0]!;
    return { pack: start.name, line: at.line - start.line + 1, column: at.column };
  };
  try {
    const rules = yaraBinding().compile(parts.join('\n'), { enableIncludes: false });
    const packOf = new Map(packs.flatMap((p) => ruleNames(p.source).map((r) => [r, p.name] as const)));
    return { rules, ruleCount: packOf.size, packOf };
  } catch (e) {
    const d = diagnosticOf(e);
    throw new RulesCompileError([{ ...placed(d.at), code: d.code, message: d.message }]);
  }
}

/** Every compiler error in one pack on its own (an upload is refused with all of them). */
export function problemsOf(pack: RuleSource): RuleProblem[] {
  return yaraBinding()
    .validate(pack.source, { enableIncludes: false })
    .errors.map((e) => {
      const d = parseDiagnostic(e);
      return { pack: pack.name, line: d.at?.line ?? null, column: d.at?.column ?? null, code: d.code, message: d.message };
    });
}

/** Rules saved with `rules.serialize()` (a worker thread gets its copy this way, without compiling again). */
export function loadRules(bytes: Buffer): YaraRules {
  return yaraBinding().deserialize(bytes);
}

/** The built-in pack's source (read beside this module; the CLI bundle carries a copy in `rules/`). */
export function builtInRules(): string {
  return readFileSync(fileURLToPath(new URL('./rules/cordon-default.yar', import.meta.url)), 'utf8');
}

/** How many rules a source declares (comments and strings aside). */
export function countRules(source: string): number {
  return ruleNames(source).length;
}

/** The names of the rules a source declares (comments and strings aside). */
export function ruleNames(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"|\/(?:[^/\\\n]|\\.)+\/[a-z]*/g, ' ');
  return [...code.matchAll(/(?:^|[\s}])(?:(?:private|global)\s+)*rule\s+([A-Za-z_]\w*)/g)].map((m) => m[1]!);
}

interface Parsed {
  code: string;
  message: string;
  at: { line: number; column: number } | null;
}

function diagnosticOf(e: unknown): Parsed {
  const text = e instanceof Error ? e.message : String(e);
  // The binding throws "Compilation error (E009): error[E009]: … --> line:L:C …".
  const code = /\(([A-Z]\d+)\)/.exec(text)?.[1] ?? 'E000';
  return parseDiagnostic({ code, message: text.replace(/^Compilation error \([A-Z]\d+\): /, '') });
}

function parseDiagnostic(d: YaraDiagnostic): Parsed {
  const first = d.message.split('\n')[0] ?? d.message;
  const at = / --> line:(\d+):(\d+)/.exec(d.message);
  return {
    code: d.code,
    message: first.replace(/^(error|warning)\[[^\]]*\]:\s*/, '').trim(),
    at: at ? { line: Number(at[1]), column: Number(at[2]) } : null,
  };
}
