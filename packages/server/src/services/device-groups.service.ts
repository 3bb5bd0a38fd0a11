import type { DeviceGroupView } from '../api/schemas.js';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { DeviceGroupTakenError, type DeviceGroupChange, type DeviceGroupRow, type DeviceGroupsRepository } from '../repositories/device-groups.repository.js';
import type { Transactor, UnitOfWork } from '../repositories/transactor.js';
import type { AuditService } from './audit.service.js';
import type { LiveShellPolicy } from './live-response.service.js';

/** Which devices a group takes: today, those carrying a tag (exact, whatever its case). New kinds of rule add keys. */
export interface DeviceGroupRule {
  tag: string;
}

export interface NewDeviceGroup {
  name: string;
  description?: string | null;
  /** Omitted: after every other group (the lowest priority). */
  rank?: number;
  rule: DeviceGroupRule;
  liveResponseShell?: boolean;
  comment?: string | null;
}

export type DeviceGroupPatch = Partial<Omit<NewDeviceGroup, 'comment'>> & { comment?: string | null };

/** What membership needs of a group: its id, name, rank order and rule. */
export interface RankedGroup {
  id: number;
  name: string;
  tag: string;
  liveResponseShell: boolean;
}

/** The groups in rank order, parsed once for matching many devices in memory. */
export function rankedGroups(rows: DeviceGroupRow[]): RankedGroup[] {
  return [...rows]
    .sort((a, b) => Number(a.rank) - Number(b.rank))
    .map((r) => ({ id: Number(r.id), name: r.name, tag: ruleOf(r).tag.toLowerCase(), liveResponseShell: Number(r.live_response_shell) === 1 }));
}

/**
 * A device's group: the highest-ranked one whose rule matches its tags, or null ("Ungrouped
 * devices"). Only tags set through the API count: a device must not choose its own group (and so
 * its policy) through the tags its agent's config reports.
 */
export function groupOf(groups: readonly RankedGroup[], userTags: readonly string[]): RankedGroup | null {
  if (groups.length === 0 || userTags.length === 0) return null;
  const tags = new Set(userTags.map((t) => t.toLowerCase()));
  return groups.find((g) => tags.has(g.tag)) ?? null;
}

/** The user-set tags of machines, as MachinesService answers them. */
export interface UserTagSource {
  tagsOf(ids: string[], opts: { userOnly?: boolean }): Promise<Map<string, string[]>>;
}

/**
 * Device groups, modelled on MDE's: ranked (1 is the highest priority), each taking the devices its
 * rule matches unless a higher-ranked group took them; devices no group takes are "Ungrouped
 * devices". A group carries device policy: today, whether live response's `shell` is allowed on
 * its devices (never on ungrouped ones). Admins write them, every change audited with its reason.
 */
export class DeviceGroupsService implements LiveShellPolicy {
  constructor(
    private readonly repo: DeviceGroupsRepository,
    private readonly tx: Transactor,
    private readonly audit: AuditService,
    private readonly machines: UserTagSource,
    private readonly now: Clock,
  ) {}

  async list(): Promise<DeviceGroupView[]> {
    return (await this.repo.ranked()).map(view);
  }

  async get(id: number): Promise<DeviceGroupView> {
    const row = await this.repo.get(id);
    if (!row) throw new NotFoundError('Device group', String(id));
    return view(row);
  }

  /** The groups in rank order, for matching many devices with one query. */
  async ranked(): Promise<RankedGroup[]> {
    return rankedGroups(await this.repo.ranked());
  }

  /** Whether live response may run `shell` on a device: its group allows it (an ungrouped device never does). */
  async allowsShell(machineId: string): Promise<boolean> {
    const [groups, tags] = await Promise.all([this.ranked(), this.machines.tagsOf([machineId], { userOnly: true })]);
    return groupOf(groups, tags.get(machineId) ?? [])?.liveResponseShell ?? false;
  }

  async create(principal: Principal, input: NewDeviceGroup): Promise<DeviceGroupView> {
    const time = this.now().toISOString();
    const name = input.name.trim();
    const row = await this.#write(async (u) => {
      await u.deviceGroups.lockWrites();
      const rank = input.rank ?? (await u.deviceGroups.lastRank()) + 1;
      await this.#refuseTaken(u.deviceGroups, { name, rank });
      const stored = await u.deviceGroups.insert({
        name,
        name_key: name.toLowerCase(),
        description: input.description ?? null,
        rank,
        rule: JSON.stringify(input.rule),
        live_response_shell: input.liveResponseShell ? 1 : 0,
        created_by: principal.name,
        created_at: time,
        updated_by: principal.name,
        updated_at: time,
      });
      await u.audit.append([this.audit.row({ actor: principal.name, action: 'CreateDeviceGroup', targetType: 'deviceGroup', targetId: String(stored.id), comment: input.comment ?? null, outcome: 'Succeeded', detail: { after: view(stored) } }, time)]);
      return stored;
    });
    return view(row);
  }

  /** Changes the fields given; the others stay. */
  async update(principal: Principal, id: number, patch: DeviceGroupPatch): Promise<DeviceGroupView> {
    if ([patch.name, patch.description, patch.rank, patch.rule, patch.liveResponseShell].every((v) => v === undefined)) {
      throw new BadRequestError('Nothing to change: send one or more of Name, Description, Rank, Rule and LiveResponseShell', 'body');
    }
    const time = this.now().toISOString();
    const row = await this.#write(async (u) => {
      await u.deviceGroups.lockWrites();
      const before = await u.deviceGroups.get(id);
      if (!before) throw new NotFoundError('Device group', String(id));
      const name = patch.name?.trim();
      await this.#refuseTaken(u.deviceGroups, { name, rank: patch.rank }, id);
      const change: DeviceGroupChange = { updated_by: principal.name, updated_at: time };
      if (name !== undefined) Object.assign(change, { name, name_key: name.toLowerCase() });
      if (patch.description !== undefined) change.description = patch.description;
      if (patch.rank !== undefined) change.rank = patch.rank;
      if (patch.rule !== undefined) change.rule = JSON.stringify(patch.rule);
      if (patch.liveResponseShell !== undefined) change.live_response_shell = patch.liveResponseShell ? 1 : 0;
      const after = (await u.deviceGroups.update(id, change))!;
      await u.audit.append([this.audit.row({ actor: principal.name, action: 'UpdateDeviceGroup', targetType: 'deviceGroup', targetId: String(id), comment: patch.comment ?? null, outcome: 'Succeeded', detail: { before: view(before), after: view(after) } }, time)]);
      return after;
    });
    return view(row);
  }

  async remove(principal: Principal, id: number, comment: string | null): Promise<void> {
    const time = this.now().toISOString();
    await this.tx(async (u) => {
      const gone = await u.deviceGroups.remove(id);
      if (!gone) throw new NotFoundError('Device group', String(id));
      await u.audit.append([this.audit.row({ actor: principal.name, action: 'DeleteDeviceGroup', targetType: 'deviceGroup', targetId: String(id), comment, outcome: 'Succeeded', detail: { before: view(gone) } }, time)]);
    });
  }

  /** A name (whatever its case) or rank another group holds: 400, naming that group. */
  async #refuseTaken(repo: DeviceGroupsRepository, want: { name?: string; rank?: number }, self?: number): Promise<void> {
    const nameKey = want.name?.toLowerCase();
    for (const other of await repo.holding({ nameKey, rank: want.rank })) {
      if (Number(other.id) === self) continue;
      if (nameKey !== undefined && other.name_key === nameKey) {
        throw new BadRequestError(`Name: a device group named ${JSON.stringify(other.name)} exists already (names are unique whatever their case); choose another name`, 'Name', 'DeviceGroupAlreadyExists');
      }
      throw new BadRequestError(`Rank: rank ${want.rank} is held by the device group ${JSON.stringify(other.name)}; give each group its own rank (1 is the highest priority), or move that group first`, 'Rank', 'DeviceGroupRankTaken');
    }
  }

  /** Runs a write; a unique index that another writer's change hit (a race past the checks) is a 400 too. */
  async #write<T>(work: (u: UnitOfWork) => Promise<T>): Promise<T> {
    try {
      return await this.tx(work);
    } catch (e) {
      if (e instanceof DeviceGroupTakenError) throw new BadRequestError('Another device group holds that name or rank; list the groups and choose another', 'body', 'DeviceGroupAlreadyExists');
      throw e;
    }
  }
}

function ruleOf(r: DeviceGroupRow): DeviceGroupRule {
  const parsed = JSON.parse(r.rule) as Partial<DeviceGroupRule>;
  return { tag: String(parsed.tag ?? '') };
}

function view(r: DeviceGroupRow): DeviceGroupView {
  return {
    id: Number(r.id),
    name: r.name,
    description: r.description,
    rank: Number(r.rank),
    rule: ruleOf(r),
    liveResponseShell: Number(r.live_response_shell) === 1,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedBy: r.updated_by,
    updatedAt: r.updated_at,
  };
}
