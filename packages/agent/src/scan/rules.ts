import { BUILT_IN_RULEPACK, RULEPACKS_CONTENT, RulePacksContent } from '@cordon/protocol';
import { builtInRules, compileRules, RulesCompileError, type CompiledRules, type RuleSource } from '@cordon/protocol/yara';
import type { ContentStore } from '../content/store.js';

/** The rules a scan runs, and where they came from. */
export interface ScanRuleSet extends CompiledRules {
  /** The uploaded packs in it, each with its version (the built-in pack is always in). */
  packs: { name: string; version: number }[];
  /** The installed `rulepack/default` content version (null: built-in rules only). */
  contentVersion: number | null;
}

/** The packs of a rule-pack bundle, with the built-in pack first; throws when it is not one. */
function sourcesOf(bytes: Buffer): { sources: RuleSource[]; packs: { name: string; version: number }[] } {
  const bundle = RulePacksContent.parse(JSON.parse(bytes.toString('utf8')));
  return {
    sources: [{ name: BUILT_IN_RULEPACK, source: builtInRules() }, ...bundle.packs.map((p) => ({ name: p.name, source: p.source }))],
    packs: bundle.packs.map((p) => ({ name: p.name, version: p.version })),
  };
}

/**
 * The YARA rules this agent scans with: the built-in pack plus the uploaded packs of the installed
 * `rulepack/default` content. A bundle this agent cannot compile is refused before it is installed
 * (`check`), so the last good one stays; should the installed one fail anyway, the rules in use stay.
 */
export class ScanRules {
  #current: ScanRuleSet | null = null;

  constructor(private readonly store: Pick<ContentStore, 'load'>) {}

  /** For the content store: why this agent cannot use a rule-pack bundle, or null. */
  static check(bytes: Buffer): string | null {
    try {
      compileRules(sourcesOf(bytes).sources);
      return null;
    } catch (e) {
      return e instanceof RulesCompileError ? `the rule packs do not compile here: ${e.message}` : `not a rule-pack bundle: ${(e as Error).message}`;
    }
  }

  /** The rules in use (compiled on first use; the built-in pack alone when the installed bundle does not compile). */
  current(): ScanRuleSet {
    if (!this.#current) {
      try {
        this.#current = this.#load() ?? builtInOnly();
      } catch {
        this.#current = builtInOnly();
      }
    }
    return this.#current;
  }

  /** Compiles the installed bundle again (after an update); keeps the rules in use when it fails, and throws why. */
  reload(): ScanRuleSet {
    const loaded = this.#load();
    if (loaded) this.#current = loaded;
    return this.current();
  }

  #load(): ScanRuleSet | null {
    const content = this.store.load(RULEPACKS_CONTENT.kind, RULEPACKS_CONTENT.name);
    if (!content) return null;
    const { sources, packs } = sourcesOf(content.bytes);
    return { ...compileRules(sources), packs, contentVersion: content.manifest.version };
  }
}

function builtInOnly(): ScanRuleSet {
  return { ...compileRules([{ name: BUILT_IN_RULEPACK, source: builtInRules() }]), packs: [], contentVersion: null };
}
