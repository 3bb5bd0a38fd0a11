import { existsSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { parseDestination, verifyReleaseToken, type AllowEntry, type IsolationReport } from '@cordon/protocol';
import type { AddressRule, CgroupRef, IsolationPlan, NotifyResult, Platform, ServerEndpoint } from '../../platform/types.js';
import { readState } from '../../enrollment-state.js';
import { rankServers } from '../../transport/servers.js';
import { confirmServer, tcpReachable } from './probe.js';
import type { AgentModule, ModuleReport } from '../types.js';
import { isolationFile, NOT_ISOLATED, readIsolationOrFailClosed, reportOf, writeIsolation, type IsolationState } from './state.js';

export interface IsolationDeps {
  dataDir: string;
  platform: Platform;
  /** Every server node the agent may connect to (its enrollment's URLs): isolation keeps them all reachable. */
  serverUrls: readonly string[];
  caCertPem: string;
  logger: Logger;
  /** After applying, a server node must answer over the isolated network within this window, or the rules are rolled back. */
  confirmSeconds: number;
  /** Optional `host:port` that isolation must block; still reachable after applying means rollback. */
  forbiddenProbe?: string;
  /** Resolves a host name to its addresses (injectable for tests). */
  resolve?: (host: string) => Promise<string[]>;
  /** The agent's user: only its sockets may reach the server and the resolvers (default: this process's). */
  agentUid?: number | null;
  /** Waits for the server's answer over the isolated network (injectable for tests); ms taken or null. */
  confirm?: (windowMs: number, signal?: AbortSignal) => Promise<number | null>;
}

export interface BuiltPlan {
  plan: IsolationPlan;
  allowed: string[];
  notApplied: { entry: string; reason: string }[];
}

/** Name resolution with a time limit: enforcing isolation must never hang on a dead resolver. */
export const resolveAll = async (host: string): Promise<string[]> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
  });
  try {
    return (await Promise.race([lookup(host, { all: true }), timeout])).map((a) => a.address);
  } finally {
    clearTimeout(timer);
  }
};
/** At most this many server endpoints (address and port) in the rules and the journal. */
const MAX_SERVER_ENDPOINTS = 64;
const endpointKey = (e: ServerEndpoint): string => `${e.address} ${e.port}`;
const describeEndpoints = (es: ServerEndpoint[]): string => es.map((e) => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`)).join(', ') || 'none';
/** Endpoints without repeats, in first-seen order (the home node first), capped. */
const uniqueEndpoints = (es: ServerEndpoint[]): ServerEndpoint[] => {
  const seen = new Map<string, ServerEndpoint>();
  for (const e of es) if (!seen.has(endpointKey(e))) seen.set(endpointKey(e), { address: e.address, port: e.port });
  return [...seen.values()].slice(0, MAX_SERVER_ENDPOINTS);
};
const describeEntry = (e: AllowEntry): string => ('destination' in e ? e.destination : 'program' in e ? `program:${e.program}` : `unit:${e.unit}`);

/**
 * Keeps the device's isolation what the journal says it is. All changes go through one queue,
 * so an action, the watchdog and a restore never interleave their firewall edits.
 */
export class IsolationManager implements AgentModule {
  readonly name = 'isolation';
  #queue: Promise<unknown> = Promise.resolve();
  #lastReport?: string;
  #lastServers: ServerEndpoint[] = [];

  /** Each server node's host (an IP or a name) and gateway port, read once from the enrolled URLs (the home node first). */
  readonly #servers: { host: string; port: number }[];

  constructor(private readonly deps: IsolationDeps) {
    if (deps.serverUrls.length === 0) throw new Error('isolation needs at least one server URL');
    this.#servers = deps.serverUrls.map((u) => {
      const url = new URL(u);
      return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
    });
  }

  /** The isolation as the journal has it now (logs when the journal is damaged), for action results. */
  status(): IsolationReport {
    return reportOf(this.#read());
  }

  /** The inventory's part: read quietly, as the inventory is sent often and a damaged journal is logged where it is enforced. */
  report(): ModuleReport {
    return { isolation: reportOf(readIsolationOrFailClosed(this.deps.dataDir)) };
  }

  /** Nothing to stop: isolation must stay in force after the agent exits (a stopped agent is no way out). */
  async stop(): Promise<void> {}

  #read(): IsolationState {
    return readIsolationOrFailClosed(this.deps.dataDir, (e) => this.deps.logger.error({ err: e.message }, 'the isolation journal is damaged: enforcing Full isolation until an isolate or release action rewrites it'));
  }

  /** Isolates (or changes the kind of isolation); throws with the reason after rolling back. */
  isolate(type: 'Full' | 'Selective', allow: AllowEntry[], actionId: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return this.#exclusive(async () => {
      const { platform, logger } = this.deps;
      const previous = this.#read();
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
        // Whether nft is usable at all is asked only when applying failed: checking first (two more
        // nft runs) made every isolation take effect later by about as long as applying the rules.
        // nft -f loads a rule set as one transaction, so a failed apply changed nothing.
        const check = await platform.firewall.check();
        if (!check.ok) throw new Error(`Isolation is not possible on this device: ${check.reason}`);
        return undo((e as Error).message);
      }
      const appliedMs = Date.now() - started;
      const confirm = this.deps.confirm ?? ((ms: number, sig?: AbortSignal) => confirmServer(this.deps.serverUrls, this.deps.caCertPem, ms, sig));
      const confirmedMs = await confirm(this.deps.confirmSeconds * 1000, signal);
      if (confirmedMs === null) {
        return undo(`Rolled back: no server node answered over the isolated network within ${this.deps.confirmSeconds} s (allowed: ${describeEndpoints(built.plan.servers)})`);
      }
      let forbidden: string | null = null;
      if (this.deps.forbiddenProbe) {
        const [host, port] = splitHostPort(this.deps.forbiddenProbe);
        if (await tcpReachable(host, port, 2000)) return undo(`Rolled back: isolation is not effective, ${this.deps.forbiddenProbe} is still reachable`);
        forbidden = `${this.deps.forbiddenProbe} blocked`;
      }
      const since = previous.state === 'Isolated' ? previous.since : new Date().toISOString();
      writeIsolation(this.deps.dataDir, { ...previous, state: 'Isolated', type, allow: type === 'Selective' ? allow : [], since, actionId, releasedBy: null, servers: built.plan.servers, serverAddresses: undefined });
      this.#lastServers = built.plan.servers;
      const notified = await this.#notify('This device is being isolated from the network by your security team. Only the Cordon server stays reachable.');
      logger.warn({ type, allowed: built.allowed.length, appliedMs, confirmedMs }, 'device isolated');
      return {
        isolationType: type,
        servers: built.plan.servers,
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
      const previous = this.#read();
      writeIsolation(this.deps.dataDir, { ...NOT_ISOLATED, releasedBy: by, usedReleaseTokens: tokenId ? [...previous.usedReleaseTokens, tokenId] : previous.usedReleaseTokens });
      await this.deps.platform.firewall.remove();
      await this.deps.platform.releasePrograms();
      const notified = await this.#notify('Network isolation of this device has been released by your security team.');
      this.deps.logger.warn({ by }, 'isolation released');
      return { wasIsolated: previous.state === 'Isolated', previousType: previous.type, releasedBy: by, notified };
    });
  }

  /**
   * At start, before the agent connects: rules back in force after a restart or reboot. A Full
   * rule set from the journal goes in first, at once and without DNS; the complete plan (names
   * resolved, selective entries) replaces it when ready.
   */
  restore(): Promise<void> {
    return this.#exclusive(async () => {
      const s = this.#read();
      this.#lastReport = JSON.stringify(reportOf(s));
      if (s.state !== 'Isolated') {
        // Never isolated (no journal): nothing to restore, and no firewall tool to ask. Released
        // before: rules left by a release cut short are removed (none can exist without nft).
        if (!existsSync(isolationFile(this.deps.dataDir))) return;
        if (await this.deps.platform.firewall.active()) await this.deps.platform.firewall.remove();
        await this.deps.platform.releasePrograms();
        return;
      }
      this.deps.logger.warn({ type: s.type, since: s.since }, 're-applying isolation from the journal');
      await this.deps.platform.firewall.apply(await this.#fullPlan(s));
      await this.#enforce(s);
    });
  }

  /**
   * The watchdog: re-applies rules that went missing (flushed, reloaded by another tool) or whose
   * server addresses changed, and removes leftovers after a release. Answers whether the report changed.
   */
  check(): Promise<boolean> {
    return this.#exclusive(async () => {
      const active = await this.deps.platform.firewall.active();
      // Read after looking at the firewall: a break-glass release (another process) writes the
      // journal before it removes the rules, so a missing table is never mistaken for a flush.
      const s = this.#read();
      const report = JSON.stringify(reportOf(s));
      const changed = report !== this.#lastReport;
      this.#lastReport = report;
      if (s.state === 'Isolated') {
        const known = this.#knownServers(s);
        const built = await this.buildPlan(s.type === 'Selective' ? s.allow : [], known);
        // New server addresses are added, never swapped in: an answer from DNS alone must not be
        // able to close the path to the node the agent is talking to.
        const knownKeys = new Set(known.map(endpointKey));
        const added = built.plan.servers.filter((e) => !knownKeys.has(endpointKey(e)));
        if (!active || added.length > 0) {
          this.deps.logger.warn({ missing: !active, serversAdded: describeEndpoints(added) }, 'isolation rules were missing or stale; re-applying');
          await this.#applyOrFallBack(s, { ...built.plan, servers: [...known, ...added].slice(-MAX_SERVER_ENDPOINTS) });
        }
      } else if (active) {
        await this.deps.platform.firewall.remove();
        await this.deps.platform.releasePrograms();
      }
      return changed;
    });
  }

  /**
   * Resolves the server nodes and an allow list into firewall terms; entries that cannot be applied
   * now are listed with why. `knownServers` (journaled endpoints) is the fallback for a node whose
   * name does not resolve: enforcing isolation (at boot, say) must never wait for DNS, while a new
   * isolation that knows no way to any node is refused, as it would lock the agent out.
   */
  async buildPlan(allow: AllowEntry[], knownServers?: ServerEndpoint[]): Promise<BuiltPlan> {
    const resolve = this.deps.resolve ?? resolveAll;
    const notApplied: BuiltPlan['notApplied'] = [];
    const servers: ServerEndpoint[] = [];
    const unresolved: string[] = [];
    for (const { host, port } of this.#servers) {
      if (isIP(host)) {
        servers.push({ address: host, port });
        continue;
      }
      try {
        for (const address of [...new Set(await resolve(host))].sort()) servers.push({ address, port });
      } catch (e) {
        // What this node's name stood for before: the endpoints last applied or journaled on its port.
        const known = this.#lastServers.length > 0 ? this.#lastServers : (knownServers ?? []);
        servers.push(...known.filter((k) => k.port === port));
        unresolved.push(host);
        notApplied.push({ entry: `server:${host}`, reason: `does not resolve: ${(e as Error).message}` });
      }
    }
    const endpoints = uniqueEndpoints(servers);
    if (endpoints.length === 0 && knownServers === undefined) throw new Error(`Cannot resolve the server name${unresolved.length > 1 ? 's' : ''} ${unresolved.join(', ')}; isolating now would lock the agent out`);
    if (endpoints.length === 0) this.deps.logger.error({ unresolved }, 'no server name resolves and no address is known: isolating without a server path until one resolves');
    const needsDns = this.#servers.some((s) => !isIP(s.host)) || allow.some((e) => 'destination' in e && parseDestination(e.destination)?.kind === 'domain');
    const resolvers = needsDns ? await this.#resolvers() : [];
    const destinations: AddressRule[] = [];
    const cgroups: CgroupRef[] = [];
    const allowed: string[] = [];
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
    return { plan: { servers: endpoints, resolvers, agentUid: this.#agentUid(), destinations, cgroups }, allowed, notApplied };
  }

  async #enforce(s: IsolationState): Promise<void> {
    if (s.state === 'Isolated') {
      let plan: IsolationPlan;
      try {
        plan = (await this.buildPlan(s.type === 'Selective' ? s.allow : [], this.#knownServers(s))).plan;
      } catch (e) {
        this.deps.logger.error({ err: (e as Error).message }, 'could not build the isolation plan; enforcing Full isolation');
        plan = await this.#fullPlan(s);
      }
      await this.#applyOrFallBack(s, plan);
    } else {
      await this.deps.platform.firewall.remove();
      await this.deps.platform.releasePrograms();
    }
  }

  /** Applies `plan`; if nft refuses it (a selective entry gone stale), Full isolation instead: never none. */
  async #applyOrFallBack(s: IsolationState, plan: IsolationPlan): Promise<void> {
    try {
      await this.deps.platform.firewall.apply(plan);
      this.#lastServers = plan.servers;
    } catch (e) {
      if (plan.destinations.length === 0 && plan.cgroups.length === 0) throw e;
      this.deps.logger.error({ err: (e as Error).message }, 'the selective rule set was refused; enforcing Full isolation');
      const full = await this.#fullPlan(s);
      await this.deps.platform.firewall.apply(full);
      this.#lastServers = full.servers;
    }
  }

  /** Server endpoints known without asking DNS: IPs in the URLs, the journal (an older one's addresses on the home port), this process. */
  #knownServers(s: IsolationState): ServerEndpoint[] {
    const literal = this.#servers.filter((e) => isIP(e.host)).map((e) => ({ address: e.host, port: e.port }));
    const legacy = (s.serverAddresses ?? []).map((address) => ({ address, port: this.#servers[0]!.port }));
    return uniqueEndpoints([...literal, ...s.servers, ...legacy, ...this.#lastServers]);
  }

  /** Full isolation from what is known locally: no DNS lookups, nothing selective. */
  async #fullPlan(s: IsolationState): Promise<IsolationPlan> {
    const resolvers = this.#servers.every((e) => isIP(e.host)) ? [] : await this.#resolvers();
    return { servers: this.#knownServers(s), resolvers, agentUid: this.#agentUid(), destinations: [], cgroups: [] };
  }

  /** The device's name servers that isolation must keep reachable (loopback ones are open anyway). */
  async #resolvers(): Promise<string[]> {
    return (await this.deps.platform.resolvers()).filter((r) => isIP(r) && !r.startsWith('127.') && r !== '::1');
  }

  #agentUid(): number | null {
    return this.deps.agentUid === undefined ? (process.getuid?.() ?? null) : this.deps.agentUid;
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
  const s = readIsolationOrFailClosed(dataDir);
  if (s.usedReleaseTokens.includes(v.claims.tokenId)) throw new Error(`This release token (${v.claims.tokenId}) was already used on this device`);
  if (s.state !== 'Isolated') throw new Error('This device is not isolated; there is nothing to release (the token was not used)');
  if (v.claims.isolatedSince && v.claims.isolatedSince !== s.since) {
    throw new Error(`This token releases the isolation that began at ${v.claims.isolatedSince}; this device has been isolated since ${s.since ?? 'an unknown time'} (ask for a new token)`);
  }
  const manager = new IsolationManager({ dataDir, platform, serverUrls: rankServers(enrollment.machineId, enrollment.serverUrls), caCertPem: enrollment.caCertPem, logger, confirmSeconds: 0 });
  const result = await manager.release('breakGlass', v.claims.tokenId);
  return { ...result, tokenId: v.claims.tokenId, issuedBy: v.claims.issuedBy };
}
