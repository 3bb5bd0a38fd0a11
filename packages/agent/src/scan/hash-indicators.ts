import type { IndicatorEntry } from '@cordon/protocol';

/** A file's hashes, as far as they were worked out (lower-case hex). */
export interface FileHashes {
  sha256?: string;
  sha1?: string;
  md5?: string;
}

const TYPES = { FileSha256: 'sha256', FileSha1: 'sha1', FileMd5: 'md5' } as const;
type Algorithm = (typeof TYPES)[keyof typeof TYPES];

/**
 * The file-hash indicators a scan applies, from the indicators in force: a file whose hash is an
 * `Allowed` indicator is never a detection (MDE's allow), any other file-hash indicator is one.
 * Says which hashes are worth working out: a scan computes MD5 only when an MD5 indicator exists.
 */
export class FileHashIndicators {
  readonly #by = { sha256: new Map<string, IndicatorEntry>(), sha1: new Map<string, IndicatorEntry>(), md5: new Map<string, IndicatorEntry>() };
  readonly #allowed = new Set<string>();
  /** Which hashes some indicator needs, worked out once: asked for every file scanned. */
  readonly #needed = new Set<Algorithm>();

  constructor(entries: readonly IndicatorEntry[]) {
    for (const e of entries) {
      const algorithm = TYPES[e.type as keyof typeof TYPES] as Algorithm | undefined;
      if (!algorithm) continue;
      const value = e.value.toLowerCase();
      if (e.action === 'Allowed') this.#allowed.add(`${algorithm}:${value}`);
      else this.#by[algorithm].set(value, e);
      this.#needed.add(algorithm);
    }
  }

  /** Every hash value an indicator names, of any algorithm (for scan workers: which files are worth an MD5 and which members worth reporting). */
  hashes(): string[] {
    return [...this.#by.sha256.keys(), ...this.#by.sha1.keys(), ...this.#by.md5.keys(), ...[...this.#allowed].map((k) => k.slice(k.indexOf(':') + 1))];
  }

  /** Whether any indicator needs this hash. */
  needs(algorithm: Algorithm): boolean {
    return this.#needed.has(algorithm);
  }

  /** The indicator the file matches (SHA-256 first), or null; an allowed file matches none. */
  match(h: FileHashes): IndicatorEntry | null {
    if (this.allowed(h)) return null;
    for (const algorithm of ['sha256', 'sha1', 'md5'] as const) {
      const value = h[algorithm];
      const hit = value ? this.#by[algorithm].get(value) : undefined;
      if (hit) return hit;
    }
    return null;
  }

  allowed(h: FileHashes): boolean {
    return (['sha256', 'sha1', 'md5'] as const).some((a) => h[a] !== undefined && this.#allowed.has(`${a}:${h[a]}`));
  }
}
