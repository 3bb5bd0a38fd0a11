import { createRequire } from 'node:module';

// The YARA-X binding (`@litko/yara-x-linux-x64-gnu`, pinned: 0.7.x is the release with scan
// time-outs and serialization) ships no type definitions; these declare the part Cordon uses.

export interface YaraPatternMatch {
  identifier: string;
  offset: number;
  length: number;
  /** The matched bytes as lossy text: slice the scanned buffer by offset and length for the bytes. */
  data: string;
}

export interface YaraRuleMatch {
  ruleIdentifier: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  matches: YaraPatternMatch[];
}

export interface YaraDiagnostic {
  code: string;
  /** Rendered like rustc's: `error[E009]: …\n --> line:L:C\n …`. */
  message: string;
}

/** Compiled rules; scans are synchronous (run them on a worker thread) unless `…Async`. */
export interface YaraRules {
  scan(bytes: Buffer): YaraRuleMatch[];
  scanFile(path: string): YaraRuleMatch[];
  scanAsync(bytes: Buffer): Promise<YaraRuleMatch[]>;
  scanFileAsync(path: string): Promise<YaraRuleMatch[]>;
  /** A scan running longer than this throws "Scan timed out" (code Cancelled). */
  setTimeout(ms: number): void;
  setMaxMatchesPerPattern(n: number): void;
  setUseMmap(use: boolean): void;
  serialize(): Buffer;
  getWarnings(): YaraDiagnostic[];
}

interface YaraBinding {
  compile(source: string, options?: { enableIncludes?: boolean; includeDirectories?: string[] }): YaraRules;
  validate(source: string, options?: { enableIncludes?: boolean }): { errors: YaraDiagnostic[]; warnings: YaraDiagnostic[] };
  deserialize(bytes: Buffer): YaraRules;
}

let loaded: YaraBinding | undefined;

/** The native binding, loaded on first use (the server and agent load it; nothing else needs to). */
export function yaraBinding(): YaraBinding {
  loaded ??= createRequire(import.meta.url)('@litko/yara-x-linux-x64-gnu') as YaraBinding;
  return loaded;
}
