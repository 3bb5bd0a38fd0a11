import type { Logger } from 'pino';
import { AGENT_CONTENT, INDICATORS_CONTENT, RULEPACKS_CONTENT, type ContentKind } from '@cordon/protocol';
import type { ContentBehind } from '../live/types.js';
import type { ScanRules } from '../scan/rules.js';
import { ContentNotPublishedError } from '../transport/content-fetcher.js';
import type { IndicatorSet } from './indicators.js';
import type { ContentStore, ContentUpdate } from './store.js';

/** The backstop: content is checked this often even when no announcement arrives (ms). */
export const CONTENT_CHECK_MS = 10 * 60_000;

/**
 * Keeps the content every agent needs (AGENT_CONTENT) up to date: at start, when the server
 * announces a version (a `content` frame: at hello and at each publication), and every 10 minutes
 * in case an announcement was missed. The store installs only what verifies and is newer than
 * what it has; whatever fails, the last good version stays in use.
 */
export class ContentSync {
  #timer?: NodeJS.Timeout;

  constructor(
    private readonly store: Pick<ContentStore, 'update' | 'current'>,
    private readonly indicators: IndicatorSet,
    private readonly logger: Logger,
    private readonly opts: { checkEveryMs?: number; rules?: ScanRules } = {},
  ) {}

  /** Loads what is installed, then checks the server for newer versions now and every `checkEveryMs`. */
  start(): void {
    this.#reloadIndicators();
    void this.updateAll();
    this.#timer = setInterval(() => void this.updateAll(), this.opts.checkEveryMs ?? CONTENT_CHECK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async updateAll(): Promise<void> {
    for (const { kind, name } of AGENT_CONTENT) await this.update(kind, name);
  }

  /**
   * The server published `version`: fetched unless this device has it (or a newer one) already.
   * An update already running may have fetched an older version: asked again then.
   */
  async announced(kind: ContentKind, name: string, version: number): Promise<void> {
    if (!AGENT_CONTENT.some((c) => c.kind === kind && c.name === name)) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      if ((this.store.current(kind, name)?.version ?? 0) >= version) return;
      const r = await this.update(kind, name);
      if (!r || r.status === 'refused' || r.status === 'interrupted') return;
    }
  }

  /**
   * Brings kind + name up to at least the versions named (a live `analyze` names what the server
   * published when it signed the line): fetched, verified and installed as any update. Answers
   * those still behind afterwards, with why; the content in use stays what it was for them.
   */
  async catchUp(refs: readonly { kind: ContentKind; name: string; version: number }[]): Promise<ContentBehind[]> {
    const behind: ContentBehind[] = [];
    for (const { kind, name, version } of refs) {
      if (!AGENT_CONTENT.some((c) => c.kind === kind && c.name === name)) continue;
      let problem = 'not installed';
      // Twice: an update already running may have fetched the version before this one.
      for (let attempt = 0; attempt < 2 && (this.store.current(kind, name)?.version ?? 0) < version; attempt++) {
        const r = await this.update(kind, name);
        if (!r) problem = 'the server could not be asked for it';
        else if (r.status === 'refused') problem = `refused (${r.reason}): ${r.detail}`;
        else if (r.status === 'interrupted') problem = `its download stopped after ${r.received} bytes: ${r.detail}`;
        else continue;
        break;
      }
      const have = this.store.current(kind, name)?.version ?? null;
      if ((have ?? 0) < version) behind.push({ kind, name, version, have, problem });
    }
    return behind;
  }

  /** One update of kind + name, logged; answers what it did (null when the server could not be asked). */
  async update(kind: ContentKind, name: string): Promise<ContentUpdate | null> {
    let r: ContentUpdate;
    try {
      r = await this.store.update(kind, name);
    } catch (err) {
      if (err instanceof ContentNotPublishedError) this.logger.debug({ kind, name }, 'the server publishes none of this content yet');
      else this.logger.warn({ kind, name, err: (err as Error).message }, 'could not check the server for newer content; keeping what is installed');
      return null;
    }
    const what = { kind, name };
    switch (r.status) {
      case 'installed':
        this.logger.info({ ...what, version: r.manifest.version }, 'installed new content');
        if (kind === INDICATORS_CONTENT.kind && name === INDICATORS_CONTENT.name) this.#reloadIndicators();
        if (kind === RULEPACKS_CONTENT.kind && name === RULEPACKS_CONTENT.name) this.#reloadRules();
        break;
      case 'refused':
        this.logger.warn({ ...what, reason: r.reason, detail: r.detail, kept: r.kept?.version ?? null }, 'refused content from the server; keeping what is installed');
        break;
      case 'interrupted':
        this.logger.info({ ...what, version: r.manifest.version, received: r.received, detail: r.detail }, 'content download interrupted; it resumes at the next check');
        break;
      case 'current':
        break;
    }
    return r;
  }

  #reloadRules(): void {
    try {
      const r = this.opts.rules?.reload();
      if (r) this.logger.info({ packs: r.packs, rules: r.ruleCount }, 'scans now use the new rule packs');
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'the installed rule packs do not compile; scans keep the rules in use');
    }
  }

  #reloadIndicators(): void {
    try {
      this.indicators.reload();
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'the installed indicators cannot be read; keeping the ones in use');
    }
  }
}
