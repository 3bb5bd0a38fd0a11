import { AllowEntry, type AllowEntry as AllowEntryType } from '@cordon/protocol';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { BadRequestError, markAudited, NotFoundError } from '../errors.js';
import type { IsolationPolicyRow, IsolationRepository } from '../repositories/isolation.repository.js';
import type { AuditService } from './audit.service.js';
import type { Transactor } from '../repositories/transactor.js';
import type { MachinesService } from './machines.service.js';
import type { EffectivePolicyView, IsolationPolicyView } from '../api/schemas.js';

type EffectiveAllowEntry = EffectivePolicyView['allow'][number];

const KINDS = ['destination', 'program', 'unit'] as const;
type Kind = (typeof KINDS)[number];

const scopeOf = (tag: string | null): string => (tag === null ? 'global' : `tag:${tag}`);
const kindOf = (e: AllowEntryType): Kind => ('destination' in e ? 'destination' : 'program' in e ? 'program' : 'unit');
/** Two entries that allow the same thing are one entry, whatever their descriptions say. */
const entryKey = (e: AllowEntryType): string => {
  const kind = kindOf(e);
  const value = (e as Record<Kind, string>)[kind];
  return `${kind}\0${kind === 'destination' ? value.trim().toLowerCase() : value}`;
};

/**
 * Selective isolation: what stays reachable while a device is isolated, set globally and per tag.
 * A device's effective list is the global policy plus the policies of all its tags, resolved when
 * an Isolate is submitted and signed into the command, so the agent never fetches policy itself.
 */
export class IsolationPolicyService {
  constructor(
    private readonly repo: IsolationRepository,
    private readonly tx: Transactor,
    private readonly machines: MachinesService,
    private readonly audit: AuditService,
    private readonly now: Clock,
  ) {}

  async list(): Promise<IsolationPolicyView[]> {
    return (await this.repo.policies()).map(toView);
  }

  /**
   * One policy. The global policy always exists (empty until set), so clients can read it without
   * a special case; a tag policy that was never set answers ResourceNotFound.
   */
  async get(tag: string | null): Promise<IsolationPolicyView> {
    const row = await this.repo.policy(scopeOf(tag));
    if (row) return toView(row);
    if (tag === null) return { scope: 'global', tag: null, allow: [], comment: null, updatedAt: null, updatedBy: null };
    throw new NotFoundError('Isolation policy for tag', tag);
  }

  /** Replaces a policy whole. Every entry is checked first: one bad entry stores nothing. */
  async set(principal: Principal, tag: string | null, entries: unknown[], comment: string): Promise<IsolationPolicyView> {
    const scope = scopeOf(tag);
    let allow: AllowEntryType[];
    try {
      allow = parseAllowList(entries);
    } catch (e) {
      await this.audit.record({ actor: principal.name, action: 'SetIsolationPolicy', targetType: 'isolationPolicy', targetId: scope, comment, outcome: 'Refused', detail: { reason: (e as Error).message } });
      throw markAudited(e as Error);
    }
    await this.tx(async (u) => {
      const previous = await u.isolation.policy(scope);
      await u.isolation.upsertPolicy({ scope, allow: JSON.stringify(allow), comment, updated_at: this.now().toISOString(), updated_by: principal.name });
      await u.audit.append([
        this.audit.row({
          actor: principal.name,
          action: 'SetIsolationPolicy',
          targetType: 'isolationPolicy',
          targetId: scope,
          comment,
          outcome: 'Succeeded',
          detail: { allow, previous: previous ? (JSON.parse(previous.allow) as unknown) : null },
        }),
      ]);
    });
    return this.get(tag);
  }

  async remove(principal: Principal, tag: string, comment: string): Promise<void> {
    const scope = scopeOf(tag);
    await this.tx(async (u) => {
      const previous = await u.isolation.policy(scope);
      if (!previous || !(await u.isolation.deletePolicy(scope))) throw new NotFoundError('Isolation policy for tag', tag);
      await u.audit.append([this.audit.row({ actor: principal.name, action: 'DeleteIsolationPolicy', targetType: 'isolationPolicy', targetId: scope, comment, outcome: 'Succeeded', detail: { previous: JSON.parse(previous.allow) as unknown } })]);
    });
  }

  /** What a Selective isolation of this machine would allow, and which policy each entry comes from. */
  async effective(machineId: string): Promise<EffectivePolicyView> {
    const machine = await this.machines.row(machineId);
    const resolved = (await this.#resolve([machineId])).get(machineId)!;
    return { machineId, computerDnsName: machine.computer_dns_name, ...resolved };
  }

  /** The effective allow lists of many machines, as they are signed into Isolate commands. */
  async allowListsOf(machineIds: string[]): Promise<Map<string, AllowEntryType[]>> {
    const out = new Map<string, AllowEntryType[]>();
    for (const [id, r] of await this.#resolve(machineIds)) out.set(id, r.allow.map(({ from: _from, ...entry }) => entry as AllowEntryType));
    return out;
  }

  async #resolve(machineIds: string[]): Promise<Map<string, { policies: string[]; allow: EffectiveAllowEntry[] }>> {
    // Only tags set through the API choose a policy; device-side tags are the device's own claim.
    const tags = await this.machines.tagsOf(machineIds, { userOnly: true });
    const scopes = new Set(['global']);
    for (const list of tags.values()) for (const t of list) scopes.add(scopeOf(t));
    const policies = new Map((await this.repo.policiesIn([...scopes])).map((r) => [r.scope, JSON.parse(r.allow) as AllowEntryType[]]));
    const out = new Map<string, { policies: string[]; allow: EffectiveAllowEntry[] }>();
    for (const id of machineIds) {
      // Global first, then tags in name order: a stable order, so equal lists sign equal commands.
      const applied = ['global', ...[...(tags.get(id) ?? [])].sort().map(scopeOf)].filter((s) => policies.has(s));
      const merged = new Map<string, EffectiveAllowEntry>();
      for (const scope of applied) {
        for (const entry of policies.get(scope)!) {
          const key = entryKey(entry);
          const seen = merged.get(key);
          if (seen) {
            if (!seen.from.includes(scope)) seen.from.push(scope);
          } else merged.set(key, { ...entry, from: [scope] });
        }
      }
      out.set(id, { policies: applied, allow: [...merged.values()] });
    }
    return out;
  }
}

/**
 * Checks a submitted allow list against the protocol's AllowEntry, entry by entry, so the error
 * names the entry and field (`Allow.2.destination`) and says what a valid one looks like. Entry
 * keys may be PascalCase like the rest of the API (`Destination`).
 */
export function parseAllowList(entries: unknown[]): AllowEntryType[] {
  if (entries.length > 256) throw new BadRequestError(`Allow has ${entries.length} entries; at most 256 are allowed`, 'Allow');
  return entries.map((raw, i) => {
    const at = `Allow.${i}`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new BadRequestError(`${at} must be an object with one of destination, program or unit, e.g. {"destination":"10.0.0.0/8"}`, at);
    }
    const entry = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.length > 0 ? k[0]!.toLowerCase() + k.slice(1) : k, v]));
    const kinds = KINDS.filter((k) => k in entry);
    if (kinds.length !== 1) {
      throw new BadRequestError(`${at} must have exactly one of destination, program or unit; it has ${kinds.length ? kinds.join(' and ') : 'none'}`, at);
    }
    const kind = kinds[0]!;
    const branch = AllowEntry.options.find((o) => kind in o.shape)!;
    const r = branch.safeParse(entry);
    if (r.success) return r.data;
    const issue = r.error.issues[0]!;
    const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.map(String).join('.') || kind;
    const value = field === kind ? ` (${JSON.stringify(entry[kind]).slice(0, 100)})` : '';
    const message = issue.code === 'unrecognized_keys' ? `${at}.${field} is not a known field of an allow entry; remove it` : `${at}.${field}${value}: ${issue.message}`;
    throw new BadRequestError(message, `${at}.${field}`);
  });
}

function toView(r: IsolationPolicyRow): IsolationPolicyView {
  const global = r.scope === 'global';
  return { scope: global ? 'global' : 'tag', tag: global ? null : r.scope.slice('tag:'.length), allow: JSON.parse(r.allow) as AllowEntryType[], comment: r.comment, updatedAt: r.updated_at, updatedBy: r.updated_by };
}
