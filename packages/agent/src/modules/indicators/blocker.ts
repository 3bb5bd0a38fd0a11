import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { BLOCKING_INDICATOR_ACTIONS, type AgentDetection, type AlertSeverity, type DeviceEventKind, type IndicatorAction, type IndicatorEntry } from '@cordon/protocol';
import type { IndicatorSet } from '../../content/indicators.js';
import type { IndicatorFirewall, IndicatorRules } from '../../platform/types.js';
import { resolveAll } from '../isolation/manager.js';
import type { AgentModule, ModuleReport } from '../types.js';

/** Indicator actions that only watch an address: connections are let through and reported. */
const WATCHING: readonly string[] = ['Alert', 'Audit', 'Warn'] satisfies IndicatorAction[];
const NO_RULES = JSON.stringify({ blocked: [], watched: [] } satisfies IndicatorRules);
/** How long a domain's (or URL host's) addresses are used before it is resolved again. */
export const NAME_TTL_MS = 10 * 60_000;
/** A name that did not resolve is tried again after this long. */
const NAME_RETRY_MS = 60_000;

/** What an address in the rules stands for: its indicator, and the name it was resolved from (domains and URLs). */
interface Target {
  entry: IndicatorEntry;
  name?: string;
}

/** While an address keeps being tried, at most one alert per this long (the next one counts the attempts since). */
export const ALERT_EVERY_MS = 10 * 60_000;

export interface IndicatorBlockerDeps {
  firewall: IndicatorFirewall;
  indicators: IndicatorSet;
  /** The Cordon server nodes: never blocked, whatever an indicator says (the agent would cut itself off). */
  serverUrls: readonly string[];
  /** Queues an event for the server (durably; sent when connected). */
  reportEvent: (kind: DeviceEventKind, data: AgentDetection) => void;
  logger: Logger;
  now?: () => Date;
  resolve?: (host: string) => Promise<string[]>;
}

/**
 * Enforces the `IpAddress` indicators in force: blocking ones in a firewall table of their own
 * (apart from isolation's), watching ones counted. Its journal is the signed indicator content
 * on disk, so a restart or a reboot puts the same rules back before the agent connects. The
 * watchdog re-applies when an indicator expires (offline too) or the table was flushed, and turns
 * the table's per-address counters into alerts.
 */
export class IndicatorBlocker implements AgentModule {
  readonly name = 'indicatorBlocks';
  /** The rules last applied, as a comparable key (null: none yet). */
  #applied: string | null = null;
  /** Each address's packet count at the last look (the table's counters start at 0 when applied). */
  #seen = new Map<string, number>();
  /** Per address: when its last alert went, and attempts since then not yet reported. */
  #alerts = new Map<string, { at: number; unreported: number }>();
  #serverAddresses: Set<string> | null = null;
  /** Domains and URL hosts of indicators, resolved: nftables sees addresses, so names are watched by theirs. */
  #names = new Map<string, { addresses: string[]; at: number; ok: boolean }>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: IndicatorBlockerDeps) {
    deps.indicators.onChange(() => void this.#serialized(() => this.#enforce(true)).catch((err: unknown) => deps.logger.error({ err }, 'applying the new indicators failed; the watchdog retries')));
  }

  async restore(): Promise<void> {
    // What was installed before is enforced before the agent connects (fail closed: a set that
    // cannot be read throws, and the watchdog retries).
    if (this.deps.indicators.version === null) this.deps.indicators.reload();
    await this.#serialized(() => this.#enforce(true));
  }

  async check(): Promise<boolean> {
    await this.#serialized(async () => {
      await this.#resolveNames();
      await this.#report(await this.#enforce(false));
    });
    // Nothing of the inventory changes.
    return false;
  }

  report(): ModuleReport {
    return {};
  }

  async stop(): Promise<void> {
    // The rules stay in force after the agent exits; a restart applies the same ones again.
    await this.#queue.catch(() => undefined);
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The addresses to block and to watch now, with what each stands for. IP indicators block or
   * watch their address; domain and URL indicators are alert-only on Linux: the addresses their
   * name resolved to are watched (never blocked), an address an IP indicator names first.
   */
  async #rules(): Promise<{ rules: IndicatorRules; entries: Map<string, Target> }> {
    const servers = await this.#servers();
    const entries = new Map<string, Target>();
    const rules: IndicatorRules = { blocked: [], watched: [] };
    const active = this.deps.indicators.active(this.#now()).filter((e) => e.action !== 'Allowed');
    for (const e of active) {
      if (e.type !== 'IpAddress' || isIP(e.value) === 0 || entries.has(e.value)) continue;
      const blocking = BLOCKING_INDICATOR_ACTIONS.includes(e.action as IndicatorAction);
      if (!blocking && !WATCHING.includes(e.action)) continue;
      if (servers.has(e.value)) {
        this.deps.logger.warn({ indicator: e.id, address: e.value }, 'an indicator names a Cordon server address: not enforced (the agent would lose its server)');
        continue;
      }
      entries.set(e.value, { entry: e });
      (blocking ? rules.blocked : rules.watched).push(e.value);
    }
    for (const e of active) {
      const name = nameOf(e);
      if (!name) continue;
      for (const address of this.#names.get(name)?.addresses ?? []) {
        if (entries.has(address) || servers.has(address)) continue;
        entries.set(address, { entry: e, name });
        rules.watched.push(address);
      }
    }
    rules.blocked.sort();
    rules.watched.sort();
    return { rules, entries };
  }

  /** Resolves the names of domain and URL indicators not resolved lately (each within 5 s). */
  async #resolveNames(): Promise<void> {
    const now = this.#now().getTime();
    const wanted = new Set(this.deps.indicators.active(this.#now()).flatMap((e) => (e.action === 'Allowed' ? [] : [nameOf(e)].filter((n): n is string => n !== null))));
    for (const name of this.#names.keys()) if (!wanted.has(name)) this.#names.delete(name);
    for (const name of wanted) {
      const had = this.#names.get(name);
      if (had && now - had.at < (had.ok ? NAME_TTL_MS : NAME_RETRY_MS)) continue;
      try {
        const addresses = [...new Set(await (this.deps.resolve ?? resolveAll)(name))].filter((a) => isIP(a) !== 0).sort();
        this.#names.set(name, { addresses, at: now, ok: true });
      } catch (err) {
        // Keep the addresses it had: a resolver outage must not lift the watch.
        this.#names.set(name, { addresses: had?.addresses ?? [], at: now, ok: false });
        this.deps.logger.debug({ name, err: (err as Error).message }, 'an indicator name does not resolve now; trying again in a minute');
      }
    }
  }

  /** Applies the rules if they changed, or (`force`, or the watchdog finding them gone) again; answers them. */
  async #enforce(force: boolean): Promise<{ rules: IndicatorRules; entries: Map<string, Target> }> {
    const current = await this.#rules();
    const { rules } = current;
    const key = JSON.stringify(rules);
    if (rules.blocked.length + rules.watched.length === 0) {
      // Nothing to enforce: remove a table left from before (indicators deleted while the agent
      // was stopped), without asking anything of nft when there is none (a device without nft).
      if (!force && key === this.#applied) return current;
      if (await this.deps.firewall.active()) {
        await this.deps.firewall.remove();
        this.deps.logger.info({ version: this.deps.indicators.version }, 'no indicator rules in force: removed the table');
      }
      this.#applied = key;
      this.#seen = new Map();
      return current;
    }
    const drifted = !force && key === this.#applied && !(await this.deps.firewall.active());
    if (!force && key === this.#applied && !drifted) return current;
    await this.deps.firewall.apply(rules);
    if (drifted) this.deps.logger.warn('the indicator rules were gone (flushed by another tool?); applied them again');
    else if (key !== this.#applied) this.deps.logger.info({ blocked: rules.blocked.length, watched: rules.watched.length, version: this.deps.indicators.version }, 'indicator rules applied');
    this.#applied = key;
    this.#seen = new Map();
    return current;
  }

  /** Reports the addresses tried since the last look, as alerts (rate-limited per address). */
  async #report({ rules, entries }: { rules: IndicatorRules; entries: Map<string, Target> }): Promise<void> {
    if (this.#applied === null || this.#applied === NO_RULES) return;
    const counts = await this.deps.firewall.counts();
    if (counts.size === 0) return;
    const now = this.#now().getTime();
    for (const [address, total] of counts) {
      const fresh = total - (this.#seen.get(address) ?? 0);
      this.#seen.set(address, total);
      const target = entries.get(address);
      if (fresh <= 0 || !target || !target.entry.generateAlert) continue;
      const state = this.#alerts.get(address) ?? { at: 0, unreported: 0 };
      state.unreported += fresh;
      this.#alerts.set(address, state);
      if (now - state.at < ALERT_EVERY_MS) continue;
      this.deps.reportEvent('detection', detectionOf(target, address, state.unreported, rules.blocked.includes(address)));
      state.at = now;
      state.unreported = 0;
    }
  }

  /** The server nodes' addresses, resolved once (names that do not resolve are retried next time). */
  async #servers(): Promise<Set<string>> {
    if (this.#serverAddresses) return this.#serverAddresses;
    const out = new Set<string>();
    let complete = true;
    for (const url of this.deps.serverUrls) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      if (isIP(host)) out.add(host);
      else {
        try {
          for (const a of await (this.deps.resolve ?? resolveAll)(host)) out.add(a);
        } catch (err) {
          complete = false;
          this.deps.logger.warn({ host, err: (err as Error).message }, 'cannot resolve a server name to keep it out of the indicator blocks; trying again later');
        }
      }
    }
    if (complete) this.#serverAddresses = out;
    return out;
  }

  #now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

/** The host name a domain or URL indicator stands for (null for other types, or a URL without one). */
function nameOf(e: IndicatorEntry): string | null {
  if (e.type === 'DomainName') return e.value.toLowerCase();
  if (e.type !== 'Url') return null;
  try {
    const host = new URL(e.value).hostname.replace(/^\[|\]$/g, '');
    return host && isIP(host) === 0 ? host.toLowerCase() : null;
  } catch {
    return null;
  }
}

function detectionOf({ entry: e, name }: Target, address: string, attempts: number, blocked: boolean): AgentDetection {
  const severity = (['Informational', 'Low', 'Medium', 'High'] as const).includes(e.severity as AlertSeverity) ? (e.severity as AlertSeverity) : 'Medium';
  const peer = name ? `${name} (${address})` : address;
  return {
    title: blocked ? `Connection to a blocked address: ${peer}` : `Connection to a watched address: ${peer}`,
    severity,
    description: `${attempts} packet(s) ${blocked ? 'to or from' : 'opening connections to'} ${peer} ${blocked ? 'were refused' : 'were seen'}: indicator "${e.title}" (${e.type} ${e.action}).`.slice(0, 8192),
    category: 'CommandAndControl',
    detectionSource: 'Indicator',
    evidence: [{ entityType: e.type === 'Url' ? 'Url' : 'Ip', ipAddress: address, ...(name ? { domain: name } : {}), ...(e.type === 'Url' ? { url: e.value } : {}), detectionStatus: blocked ? 'Blocked' : 'Detected' }],
  };
}
