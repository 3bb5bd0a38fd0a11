import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { parseDestination, verifyReleaseToken, type AllowEntry, type IsolationReport } from '@cordon/protocol';
import type { CgroupRef, IsolationPlan, NotifyResult, Platform } from '../platform/index.js';
import type { AddressRule } from '../platform/linux/nft-ruleset.js';
import { readState } from '../state.js';
import { confirmServer, tcpReachable } from './probe.js';
import { NOT_ISOLATED, readIsolation, reportOf, writeIsolation, type IsolationState } from './state.js';

export interface IsolationDeps {
  dataDir: string;
  platform: Platform;
  serverUrl: string;
  caCertPem: string;
  logger: Logger;
  /** After applying, the server must answer over the isolated network within this window, or the rules are rolled back. */
  confirmSeconds: number;
  /** Optional `host:port` that isolation must block; still reachable after applying means rollback. */
  forbiddenProbe?: string;
  /** Resolves a host name to its addresses (injectable for tests). */
  resolve?: (host: string) => Promise<string[]>;
  /** Waits for the server's answer over the isolated network (injectable for tests); ms taken or null. */
  confirm?: (windowMs: number, signal?: AbortSignal) => Promise<number | null>;
}

export interface BuiltPlan {
  plan: IsolationPlan;
  allowed: string[];
  notApplied: { entry: string; reason: string }[];
}

const resolveAll = async (host: string): Promise<string[]> => (await lookup(host, { all: true })).map((a) => a.address);
const describeEntry = (e: AllowEntry): string => ('destination' in e ? e.destination : 'program' in e ? `program:${e.program}` : `unit:${e.unit}`);

/**
 * Keeps the device's isolation what the journal says it is. All changes go through one queue,
 * so an action, the watchdog and a restore never interleave their firewall edits.
 */
export class IsolationManager {
  #queue: Promise<unknown> = Promise.resolve();
  #lastReport?: string;
  #lastServerAddresses: string[] = [];

  constructor(private readonly deps: IsolationDeps) {}

  report(): IsolationReport {
    return reportOf(readIsolation(this.deps.dataDir));
  }

  /** Isolates (or changes the kind of isolation); throws with the reason after rolling back. */
  isolate(type: 'Full' | 'Selective', allow: AllowEntry[], actionId: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return this.#exclusive(async () => {
      const { platform, logger } = this.deps;
      const check = await platform.firewall.check();
      if (!check.ok) throw new Error(`Isolation is not possible on this device: ${check.reason}`);
      const previous = readIsolation(this.deps.dataDir);
      const built = await this.buildPlan(type === 'Selective' ? allow : []);
      const started = Date.now();
      const undo = async (why: string): Promise<never> => {
        // Back to where the device was: its earlier isolation, or none at all.
        await this.#enforce(previous).catch((e: unknown) => logger.error({ err: e }, 'rolling back isolation failed'));
        throw new Error(why);
      };
      try {
        await platform.firewall.apply(built.plan);
      } catch (e) {
        return undo((e as Error).message);
      }
      const appliedMs = Date.now() - started;
      const confirm = this.deps.confirm ?? ((ms: number, sig?: AbortSignal) => confirmServer(this.deps.serverUrl, this.deps.caCertPem, ms, sig));
      const confirmedMs = await confirm(this.deps.confirmSeconds * 1000, signal);
      if (confirmedMs === null) {
        return undo(`Rolled back: the server did not answer over the isolated network within ${this.deps.confirmSeconds} s (server addresses ${built.plan.server.addresses.join(', ')} port ${built.plan.server.port})`);
      }
      let forbidden: string | null = null;
      if (this.deps.forbiddenProbe) {
        const [host, port] = splitHostPort(this.deps.forbiddenProbe);
        if (await tcpReachable(host, port, 2000)) return undo(`Rolled back: isolation is not effective, ${this.deps.forbiddenProbe} is still reachable`);
        forbidden = `${this.deps.forbiddenProbe} blocked`;
      }
      const since = previous.state === 'Isolated' ? previous.since : new Date().toISOString();
      writeIsolation(this.deps.dataDir, { ...previous, state: 'Isolated', type, allow: type === 'Selective' ? allow : [], since, actionId, releasedBy: null, serverAddresses: built.plan.server.addresses });
      this.#lastServerAddresses = built.plan.server.addresses;
      const notified = await this.#notify('This device is being isolated from the network by your security team. Only the Cordon server stays reachable.');
      logger.warn({ type, allowed: built.allowed.length, appliedMs, confirmedMs }, 'device isolated');
      return {
        isolationType: type,
        server: { addresses: built.plan.server.addresses, port: built.plan.server.port },
        allowed: built.allowed,
        notApplied: built.notApplied,
        appliedMs,
        confirmedInMs: confirmedMs,
        forbiddenProbe: forbidden,
        notified,
      };
    });
  }

  /** Releases isolation (action or break-glass); the journal is updated first, so a crash in between still ends released. */
  release(by: 'action' | 'breakGlass', tokenId?: string): Promise<Record<string, unknown>> {
    return this.#exclusive(async () => {
      const previous = readIsolation(this.deps.dataDir);
      writeIsolation(this.deps.dataDir, { ...NOT_ISOLATED, releasedBy: by, usedReleaseTokens: tokenId ? [...previous.usedReleaseTokens, tokenId] : previous.usedReleaseTokens });
      await this.deps.platform.firewall.remove();
      await this.deps.platform.releasePrograms();
      const notified = await this.#notify('Network isolation of this device has been released by your security team.');
      this.deps.logger.warn({ by }, 'isolation released');
      return { wasIsolated: previous.state === 'Isolated', previousType: previous.type, releasedBy: by, notified };
    });
  }

  /** At start, before the agent connects: rules back in force after a restart or reboot. */
  restore(): Promise<void> {
    return this.#exclusive(async () => {
      const s = readIsolation(this.deps.dataDir);
      this.#lastReport = JSON.stringify(reportOf(s));
      if (s.state === 'Isolated') this.deps.logger.warn({ type: s.type, since: s.since }, 're-applying isolation from the journal');
      await this.#enforce(s);
    });
  }

  /**
   * The watchdog: re-applies rules that went missing (flushed, reloaded by another tool) or whose
   * server addresses changed, and removes leftovers after a release. Answers whether the report changed.
   */
  check(): Promise<boolean> {
    return this.#exclusive(async () => {
      const s = readIsolation(this.deps.dataDir);
      const report = JSON.stringify(reportOf(s));
      const changed = report !== this.#lastReport;
      this.#lastReport = report;
      const active = await this.deps.platform.firewall.active();
      if (s.state === 'Isolated') {
        const built = await this.buildPlan(s.type === 'Selective' ? s.allow : [], s.serverAddresses);
        const moved = built.plan.server.addresses.join() !== this.#lastServerAddresses.join();
        if (!active || moved) {
          this.deps.logger.warn({ missing: !active, serverMoved: moved }, 'isolation rules were missing or stale; re-applying');
          await this.deps.platform.firewall.apply(built.plan);
          this.#lastServerAddresses = built.plan.server.addresses;
        }
      } else if (active) {
        await this.deps.platform.firewall.remove();
        await this.deps.platform.releasePrograms();
      }
      return changed;
    });
  }

  /**
   * Resolves an allow list into firewall terms; entries that cannot be applied now are listed with
   * why. `knownServer` (journaled addresses) is the fallback when the server's name does not
   * resolve: enforcing isolation (at boot, say) must never wait for DNS, while a new isolation
   * without any known address is refused, as it would lock the agent out.
   */
  async buildPlan(allow: AllowEntry[], knownServer?: string[]): Promise<BuiltPlan> {
    const resolve = this.deps.resolve ?? resolveAll;
    const url = new URL(this.deps.serverUrl);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let serverAddresses: string[];
    if (isIP(host)) serverAddresses = [host];
    else {
      try {
        serverAddresses = [...new Set(await resolve(host))].sort();
      } catch (e) {
        const fallback = this.#lastServerAddresses.length > 0 ? this.#lastServerAddresses : (knownServer ?? []);
        if (fallback.length === 0 && knownServer === undefined) throw new Error(`Cannot resolve the server name ${host} (${(e as Error).message}); isolating now would lock the agent out`);
        if (fallback.length === 0) this.deps.logger.error({ host }, 'the server name does not resolve and no address is known: isolating without a server path until it resolves');
        serverAddresses = fallback;
      }
    }
    const needsDns = !isIP(host) || allow.some((e) => 'destination' in e && parseDestination(e.destination)?.kind === 'domain');
    const resolvers = needsDns ? (await this.deps.platform.resolvers()).filter((r) => isIP(r) && !r.startsWith('127.') && r !== '::1') : [];
    const destinations: AddressRule[] = [];
    const cgroups: CgroupRef[] = [];
    const allowed: string[] = [];
    const notApplied: BuiltPlan['notApplied'] = [];
    const programs: string[] = [];
    for (const entry of allow) {
      const name = describeEntry(entry);
      if ('destination' in entry) {
        const d = parseDestination(entry.destination);
        if (!d) notApplied.push({ entry: name, reason: 'not a destination' });
        else if (d.kind === 'address') {
          destinations.push({ family: d.family, cidr: d.cidr, port: d.port });
          allowed.push(name);
        } else {
          try {
            const addrs = [...new Set(await resolve(d.name))];
            for (const a of addrs) destinations.push({ family: isIP(a) === 6 ? 'ipv6' : 'ipv4', cidr: a, port: d.port });
            allowed.push(`${name} (${addrs.join(', ')})`);
          } catch (e) {
            notApplied.push({ entry: name, reason: `does not resolve: ${(e as Error).message}` });
          }
        }
      } else if ('unit' in entry) {
        const ref = await this.deps.platform.unitCgroup(entry.unit);
        if ('error' in ref) notApplied.push({ entry: name, reason: ref.error });
        else {
          cgroups.push(ref);
          allowed.push(name);
        }
      } else programs.push(entry.program);
    }
    if (programs.length > 0) {
      const adopted = await this.deps.platform.adoptPrograms(programs);
      if ('error' in adopted) for (const p of programs) notApplied.push({ entry: `program:${p}`, reason: adopted.error });
      else {
        cgroups.push(adopted.cgroup);
        for (const p of programs) allowed.push(`program:${p}`);
      }
    }
    return { plan: { server: { addresses: serverAddresses, port: Number(url.port || 443) }, resolvers, destinations, cgroups }, allowed, notApplied };
  }

  async #enforce(s: IsolationState): Promise<void> {
    if (s.state === 'Isolated') {
      const built = await this.buildPlan(s.type === 'Selective' ? s.allow : [], s.serverAddresses);
      await this.deps.platform.firewall.apply(built.plan);
      this.#lastServerAddresses = built.plan.server.addresses;
    } else {
      await this.deps.platform.firewall.remove();
      await this.deps.platform.releasePrograms();
    }
  }

  #notify(message: string): Promise<NotifyResult> {
    return this.deps.platform.notifyUsers('Cordon', message);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

function splitHostPort(s: string): [string, number] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s);
  if (!m) throw new Error(`${s} is not host:port`);
  return [m[1]!, Number(m[2])];
}

/**
 * Break-glass: releases isolation on the device itself with a token an admin issued, for when the
 * server is gone for good. The token is checked against the key the device enrolled with.
 */
export async function breakGlassRelease(dataDir: string, token: string, platform: Platform, logger: Logger, now = new Date()): Promise<Record<string, unknown>> {
  const enrollment = readState(dataDir);
  if (!enrollment) throw new Error(`This device is not enrolled (no ${dataDir}/enrollment.json)`);
  const v = verifyReleaseToken(token, enrollment.signingPublicKeyPem, enrollment.machineId, now);
  if (!v.ok) throw new Error(v.reason);
  const s = readIsolation(dataDir);
  if (s.usedReleaseTokens.includes(v.claims.tokenId)) throw new Error(`This release token (${v.claims.tokenId}) was already used on this device`);
  if (s.state !== 'Isolated') throw new Error('This device is not isolated; there is nothing to release (the token was not used)');
  const manager = new IsolationManager({ dataDir, platform, serverUrl: enrollment.serverUrl, caCertPem: enrollment.caCertPem, logger, confirmSeconds: 0 });
  const result = await manager.release('breakGlass', v.claims.tokenId);
  return { ...result, tokenId: v.claims.tokenId, issuedBy: v.claims.issuedBy };
}
