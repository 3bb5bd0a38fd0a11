import { INDICATOR_ACTIONS, INDICATOR_TYPES, IndicatorEntry, INDICATORS_CONTENT, IndicatorsContent } from '@cordon/protocol';
import type { ContentStore } from './store.js';

const KNOWN_TYPES: readonly string[] = INDICATOR_TYPES;
const KNOWN_ACTIONS: readonly string[] = INDICATOR_ACTIONS;

/**
 * The indicators this device applies: the installed, verified `indicators/default` content, parsed.
 * Entries of a type or action this agent does not know (a newer server) are left out, not the whole
 * set. `active(now)` drops what has expired, so expiry holds while the device is offline too.
 * Enforcement modules read it and hear of each new version through `onChange`.
 */
export class IndicatorSet {
  #entries: readonly IndicatorEntry[] = [];
  #version: number | null = null;
  readonly #listeners: (() => void)[] = [];

  constructor(private readonly store: Pick<ContentStore, 'load'>) {}

  /** The content version in use (null before any was installed). */
  get version(): number | null {
    return this.#version;
  }

  /** Every entry of the version in use, expired or not. */
  all(): readonly IndicatorEntry[] {
    return this.#entries;
  }

  /** The entries in force at `now`: no expiration time, or one still ahead. */
  active(now: Date = new Date()): IndicatorEntry[] {
    const t = now.getTime();
    return this.#entries.filter((e) => e.expirationTime === null || Date.parse(e.expirationTime) > t);
  }

  /** When the next entry in force expires (null: none will), so an enforcement can be re-applied then. */
  nextExpiry(now: Date = new Date()): Date | null {
    const t = now.getTime();
    const next = Math.min(...this.#entries.map((e) => (e.expirationTime === null ? Infinity : Date.parse(e.expirationTime))).filter((x) => x > t));
    return Number.isFinite(next) ? new Date(next) : null;
  }

  /** Calls `listener` whenever another version is loaded. */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Reads the installed version again (at start, and after an update installed one). Content that
   * verifies but is not an indicator set throws and leaves the entries in use as they were.
   */
  reload(): number | null {
    const content = this.store.load(INDICATORS_CONTENT.kind, INDICATORS_CONTENT.name);
    const version = content?.manifest.version ?? null;
    let entries: IndicatorEntry[] = [];
    if (content) {
      const parsed = IndicatorsContent.safeParse(JSON.parse(content.bytes.toString('utf8')));
      if (!parsed.success) throw new Error(`indicators version ${version} is not an indicator set: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
      entries = parsed.data.indicators.flatMap((raw) => {
        const e = IndicatorEntry.safeParse(raw);
        return e.success && KNOWN_TYPES.includes(e.data.type) && KNOWN_ACTIONS.includes(e.data.action) ? [e.data] : [];
      });
    }
    const changed = version !== this.#version;
    this.#entries = entries;
    this.#version = version;
    if (changed) for (const listener of this.#listeners) listener();
    return version;
  }
}
