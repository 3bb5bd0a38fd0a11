import { IsolationReport, RestrictionReport, type ActionCatalog, type Capability, type Inventory } from '@cordon/protocol';
import { storedReport } from '../actions/reported-state.js';
import type { Clock } from '../clock.js';
import { NotFoundError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { ListParams } from '../odata/compile.js';
import type { MachineRow, MachinesRepository, TagRow } from '../repositories/machines.repository.js';
import type { AuditService } from './audit.service.js';
import type { TimelineEvent, TimelineService } from './timeline.service.js';
import type { Transactor } from '../repositories/transactor.js';
import type { Principal } from '../auth/permissions.js';
import type { MachineView } from '../api/schemas.js';
import { readinessOf, storedUsableActions, usableActionsOf } from './readiness.js';
import { groupOf, type RankedGroup } from './device-groups.service.js';

export const TAG_ACTIONS = ['Add', 'Remove'] as const;
export type TagAction = (typeof TAG_ACTIONS)[number];

/** The columns that decide whether a machine can take an action. */
export type Eligibility = Pick<MachineRow, 'id' | 'computer_dns_name' | 'capabilities' | 'agent_version'>;

/** Told of every inventory an agent reports, once the machine row is stored (the action handlers). */
export interface InventoryObserver {
  inventoryReported(machineId: string, inventory: Inventory): Promise<void>;
}

export class MachinesService {
  /** Machines whose heartbeat arrived since the last flush; written in one batch. */
  readonly #seen = new Set<string>();
  readonly #inventoryObservers: InventoryObserver[] = [];

  constructor(
    private readonly repo: MachinesRepository,
    private readonly tx: Transactor,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    private readonly hub: EventHub,
    private readonly now: Clock,
    private readonly heartbeatSeconds: number,
    private readonly isConnected: (machineId: string) => boolean,
    private readonly catalog: ActionCatalog,
    /** The device groups in rank order (one query), for each machine's group. */
    private readonly groups: () => Promise<RankedGroup[]> = () => Promise.resolve([]),
  ) {}

  /** A device is Active while its heartbeats arrive: seen within three heartbeat intervals. */
  activeSince(): string {
    return new Date(this.now().getTime() - (3 * this.heartbeatSeconds + 5) * 1000).toISOString();
  }

  async list(q: ListParams): Promise<{ value: MachineView[]; count?: number }> {
    const { rows, count } = await this.repo.page(q, this.activeSince());
    return { value: await this.views(rows), count };
  }

  async get(id: string): Promise<MachineView> {
    const row = await this.repo.get(id);
    if (!row) throw new NotFoundError('Machine', id);
    return (await this.views([row]))[0]!;
  }

  async row(id: string): Promise<MachineRow> {
    const row = await this.repo.get(id);
    if (!row) throw new NotFoundError('Machine', id);
    return row;
  }

  async eligibilityOf(ids: string[]): Promise<Eligibility[]> {
    const out: Eligibility[] = [];
    for (let i = 0; i < ids.length; i += 500) out.push(...(await this.repo.eligibility(ids.slice(i, i + 500))));
    return out;
  }

  /**
   * Each machine's tags, de-duplicated, for rules that follow tags. `userOnly` leaves out the tags
   * a device reports about itself: a compromised device must not choose its own security policy.
   */
  async tagsOf(ids: string[], opts: { userOnly?: boolean } = {}): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(ids.map((id) => [id, []]));
    for (const t of await this.repo.tagsOf(ids)) {
      if (opts.userOnly && t.source !== 'user') continue;
      const list = out.get(t.machine_id);
      if (list && !list.includes(t.tag)) list.push(t.tag);
    }
    return out;
  }

  /** Ids of the machines a `$filter` selects (for bulk actions by tag or any other field). */
  async idsMatching(filter: string, limit: number): Promise<string[]> {
    return this.repo.idsMatching(filter, limit, this.activeSince());
  }

  /** Machines seen with `ip` within 15 minutes either side of `timestamp` (MDE's findbyip). */
  async findByIp(ip: string, timestamp: Date): Promise<MachineView[]> {
    const from = new Date(timestamp.getTime() - 15 * 60_000).toISOString();
    const to = new Date(timestamp.getTime() + 15 * 60_000).toISOString();
    return this.views(await this.repo.findByIp(ip, from, to));
  }

  async setTag(principal: Principal, id: string, tag: string, action: TagAction): Promise<MachineView> {
    await this.row(id);
    await this.applyTags(principal, [id], tag, action);
    return this.get(id);
  }

  /** Bulk tagging checks every machine first, so an unknown id changes nothing. */
  async setTagMany(principal: Principal, ids: string[], tag: string, action: TagAction): Promise<MachineView[]> {
    const unique = [...new Set(ids)];
    const found = new Set((await this.repo.getMany(unique)).map((m) => m.id));
    const missing = unique.find((i) => !found.has(i));
    if (missing) throw new NotFoundError('Machine', missing);
    await this.applyTags(principal, unique, tag, action);
    return this.views(await this.repo.getMany(unique));
  }

  /** The tags, their audit records and timeline events in one transaction; live views hear after it commits. */
  private async applyTags(principal: Principal, ids: string[], tag: string, action: TagAction): Promise<void> {
    const time = this.now().toISOString();
    const events: TimelineEvent[] = [];
    await this.tx(async (u) => {
      for (const id of ids) {
        const changed = action === 'Add' ? await u.machines.addTag(id, tag, time) : await u.machines.removeTag(id, tag);
        await u.audit.append([this.audit.row({ actor: principal.name, action: action === 'Add' ? 'AddTag' : 'RemoveTag', targetType: 'machine', targetId: id, outcome: 'Succeeded', detail: { tag, changed } }, time)]);
        if (!changed) continue;
        const event: TimelineEvent = { machineId: id, eventType: action === 'Add' ? 'TagAdded' : 'TagRemoved', title: `Tag '${tag}' ${action === 'Add' ? 'added' : 'removed'} by ${principal.name}`, actor: principal.name, data: { tag } };
        await u.timeline.insert(this.timeline.row(event, time));
        events.push(event);
      }
    });
    this.timeline.published(events);
    for (const e of events) this.hub.emit({ kind: 'machine', machineId: e.machineId, change: 'tags' });
  }

  /**
   * A second agent connected with this device's credential while the first was live: the
   * credential was copied. The device is flagged; the timeline and audit log hear of it once an
   * hour at most, however often the copy retries.
   */
  async credentialInUseTwice(id: string, address: string | null): Promise<void> {
    const now = this.now();
    const previous = (await this.repo.get(id))?.credential_in_use_twice_at;
    const news = !previous || now.getTime() - Date.parse(previous) > 3600_000;
    const event: TimelineEvent = { machineId: id, eventType: 'CredentialInUseTwice', title: "A second agent tried to connect with this device's credential while its agent was connected: refused. The credential may have been copied (a cloned disk or VM); revoke it and re-enroll the device", actor: `agent:${id}`, data: { address } };
    await this.tx(async (u) => {
      await u.machines.update(id, { credential_in_use_twice_at: now.toISOString() });
      if (!news) return;
      await u.timeline.insert(this.timeline.row(event, now.toISOString()));
      await u.audit.append([this.audit.row({ actor: `agent:${id}`, action: 'ConnectAgent', targetType: 'machine', targetId: id, outcome: 'Refused', detail: { reason: 'credential already in use by a live connection', address } }, now.toISOString())]);
    });
    if (news) this.timeline.published([event]);
    this.hub.emit({ kind: 'machine', machineId: id, change: 'credentialInUseTwice' });
  }

  /** Applies what an agent reports about itself (hello and inventory frames). */
  async applyInventory(id: string, inv: Inventory): Promise<void> {
    const time = this.now().toISOString();
    await this.repo.update(id, {
      computer_dns_name: inv.hostname,
      os_platform: inv.osPlatform,
      os_version: inv.osVersion,
      os_processor: inv.osProcessor,
      kernel: inv.kernel,
      agent_version: inv.agentVersion,
      ip_addresses: JSON.stringify(inv.ipAddresses),
      capabilities: JSON.stringify(inv.capabilities),
      usable_actions: usableActionsOf(this.catalog, inv),
      last_ip_address: primaryIp(inv),
      last_seen: time,
    });
    await this.repo.recordIps(id, inv.ipAddresses.map((i) => i.address), time);
    await this.repo.replaceDeviceTags(id, [...new Set(inv.deviceTags)], time);
    for (const o of this.#inventoryObservers) await o.inventoryReported(id, inv);
    this.hub.emit({ kind: 'machine', machineId: id, change: 'inventory' });
  }

  /** Adds an observer of inventories (bound after construction: the handlers need services built with this one). */
  observeInventory(observer: InventoryObserver): void {
    this.#inventoryObservers.push(observer);
  }

  /**
   * Re-derives what each device's agent can run from what it last reported, as this server's
   * catalog says (called at start: a new version may offer more, or ask for newer agents).
   */
  async refreshReadiness(): Promise<number> {
    let changed = 0;
    for (const m of await this.repo.abilities()) {
      const usable = storedUsableActions(readinessOf(this.catalog, m).usable);
      if (usable === m.usable_actions) continue;
      await this.repo.update(m.id, { usable_actions: usable });
      changed++;
    }
    return changed;
  }

  /** Periodic upkeep: the IP history keeps the newest 512 addresses per machine. */
  async pruneIpHistory(): Promise<number> {
    return this.repo.pruneIps(512);
  }

  /**
   * Closes the connections an earlier run of the server (or a node that died) left open in the
   * timeline: it stopped or crashed while agents were connected, so no AgentOffline was written.
   * Called at start-up before the gateway listens, and when a node is found dead; agents a live
   * node holds are left alone. Each gets its AgentOffline at the time the device was last seen, so
   * the gap until it reconnects reads as offline.
   */
  async recordOfflineSinceLastRun(heldByLiveNodes: ReadonlySet<string> = new Set()): Promise<number> {
    const open = (await this.repo.lastRecordedOnline()).filter((m) => !heldByLiveNodes.has(m.id));
    const events: TimelineEvent[] = [];
    for (let i = 0; i < open.length; i += 500) {
      const batch = open.slice(i, i + 500);
      await this.tx(async (u) => {
        for (const m of batch) {
          const lastSeen = m.last_seen > m.online_at ? m.last_seen : m.online_at;
          const event: TimelineEvent = { machineId: m.id, eventType: 'AgentOffline', title: 'Agent disconnected (last seen before the server restarted)', data: { lastSeen } };
          await u.timeline.insert(this.timeline.row(event, lastSeen));
          events.push(event);
        }
      });
    }
    this.timeline.published(events);
    return open.length;
  }

  noteSeen(id: string): void {
    this.#seen.add(id);
  }

  #inactiveCheckedAt: string | null = null;

  /**
   * Health is derived from last-seen time, so nothing happens when a device turns Inactive: this
   * periodic check finds the devices that crossed the line since the last check and tells live
   * views, as a 'machine' event.
   */
  async announceInactive(): Promise<number> {
    const since = this.activeSince();
    const from = this.#inactiveCheckedAt;
    this.#inactiveCheckedAt = since;
    if (from === null || from >= since) return 0;
    const ids = await this.repo.idsSeenBetween(from, since);
    // Every node finds these in the shared store itself: told to this node's listeners only, not relayed.
    for (const machineId of ids) this.hub.emitLocal({ kind: 'machine', machineId, change: 'inactive' });
    return ids.length;
  }

  /** Writes the batched heartbeats; called on a timer and at shutdown. */
  async flushSeen(): Promise<void> {
    if (this.#seen.size === 0) return;
    const ids = [...this.#seen];
    this.#seen.clear();
    await this.repo.touchLastSeen(ids, this.now().toISOString());
  }

  async views(rows: MachineRow[]): Promise<MachineView[]> {
    if (rows.length === 0) return [];
    // Two queries whatever the number of rows: their tags, and the groups (matched here, in memory).
    const [tags, groups] = await Promise.all([this.repo.tagsOf(rows.map((r) => r.id)), this.groups()]);
    const byMachine = new Map<string, TagRow[]>();
    for (const t of tags) byMachine.set(t.machine_id, [...(byMachine.get(t.machine_id) ?? []), t]);
    const activeSince = this.activeSince();
    return rows.map((r): MachineView => {
      const own = byMachine.get(r.id) ?? [];
      const ips = JSON.parse(r.ip_addresses) as Inventory['ipAddresses'];
      const readiness = readinessOf(this.catalog, r);
      const group = groupOf(groups, own.filter((t) => t.source === 'user').map((t) => t.tag));
      return {
        id: r.id,
        computerDnsName: r.computer_dns_name,
        firstSeen: r.first_seen,
        lastSeen: r.last_seen,
        osPlatform: r.os_platform,
        osVersion: r.os_version,
        osProcessor: r.os_processor,
        kernel: r.kernel,
        agentVersion: r.agent_version,
        lastIpAddress: r.last_ip_address,
        lastExternalIpAddress: r.last_external_ip_address,
        ipAddresses: ips.map((i) => ({ ipAddress: i.address, macAddress: i.mac, type: i.family, interface: i.interface })),
        healthStatus: r.last_seen >= activeSince ? 'Active' : 'Inactive',
        riskScore: r.risk_score,
        exposureLevel: r.exposure_level,
        machineTags: [...new Set(own.map((t) => t.tag))].sort(),
        machineTagDetails: own.map((t) => ({ tag: t.tag, source: t.source })),
        isolationState: r.isolation_state,
        isolation: storedReport(IsolationReport, r.isolation),
        restrictionState: r.restriction_state,
        restriction: storedReport(RestrictionReport, r.restriction),
        capabilities: JSON.parse(r.capabilities) as Capability[],
        usableActions: readiness.usable,
        unusableActions: readiness.unusable,
        aadDeviceId: r.aad_device_id,
        isConnected: this.isConnected(r.id),
        credentialRevokedAt: r.credential_revoked_at,
        credentialRevokedBy: r.credential_revoked_by,
        credentialInUseTwiceAt: r.credential_in_use_twice_at,
        rbacGroupId: group?.id ?? null,
        rbacGroupName: group?.name ?? null,
      };
    });
  }
}

/** The address shown as lastIpAddress: the first non-loopback IPv4, else the first other address. */
export function primaryIp(inv: Inventory): string | null {
  const ips = inv.ipAddresses.filter((i) => !i.address.startsWith('127.') && i.address !== '::1');
  return ips.find((i) => i.family === 'IPv4')?.address ?? ips[0]?.address ?? null;
}
