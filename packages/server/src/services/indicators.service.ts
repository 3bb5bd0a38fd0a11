import type { Logger } from 'pino';
import { INDICATORS_CONTENT, sha256Hex, type IndicatorAction, type IndicatorEntry, type IndicatorsContent, type IndicatorSeverity, type IndicatorType } from '@cordon/protocol';
import type { IndicatorImportView, IndicatorView } from '../api/schemas.js';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { ListParams } from '../odata/compile.js';
import type { IndicatorRow, IndicatorsRepository, NewIndicatorRow } from '../repositories/indicators.repository.js';
import type { Transactor, UnitOfWork } from '../repositories/transactor.js';
import type { AuditService } from './audit.service.js';
import type { ContentService } from './content.service.js';
import type { Locks } from './counters.js';
import { enforcementOf, IndicatorInput, indicatorValueOf } from './indicator-input.js';

/** At most this many indicators per import and per BatchDelete, as MDE allows. */
export const MAX_INDICATOR_BATCH = 500;
/** Held (on every node) while the indicators agents get are read and published. */
const PUBLISH_LOCK = 'indicators/publish';

/** An indicator as checked, ready to store: the fields a submission sets. */
type Checked = Pick<
  NewIndicatorRow,
  'indicator_type' | 'indicator_value' | 'action' | 'severity' | 'title' | 'description' | 'recommended_actions' | 'application' | 'category' | 'mitre_techniques' | 'rbac_group_names' | 'educate_url' | 'generate_alert' | 'expiration_time'
>;

/** Each field's name as the caller spelt it, else PascalCase as MDE documents it. */
type Spelling = Record<string, string>;
const shown = (field: string, spelling: Spelling) => spelling[field] ?? field[0]!.toUpperCase() + field.slice(1);

/**
 * Indicators of compromise with MDE's API: submitted (created, or updated by type + value),
 * listed, deleted and imported; every change audited. After every change, and when one expires,
 * the set in force is published as signed content (`indicators/default`) for agents, which apply
 * it offline and drop what expires on their own.
 */
export class IndicatorsService {
  constructor(
    private readonly repo: IndicatorsRepository,
    private readonly tx: Transactor,
    private readonly audit: AuditService,
    private readonly content: ContentService,
    private readonly locks: Locks,
    private readonly now: Clock,
    private readonly logger: Logger,
  ) {}

  async list(q: ListParams): Promise<{ value: IndicatorView[]; count?: number }> {
    const { rows, count } = await this.repo.page(q);
    return { value: rows.map((r) => this.view(r)), count };
  }

  async get(id: string): Promise<IndicatorView> {
    return this.view(await this.#row(id));
  }

  /**
   * Creates the indicator, or updates the one with the same type and value (MDE's "submit or
   * update"): every field is replaced by what was sent, except who created it, when, and its
   * application (MDE sets that on creation only).
   */
  async submit(principal: Principal, body: unknown, spelling: Spelling = {}): Promise<IndicatorView> {
    const [stored] = await this.#store(principal, [this.#check(body, '', spelling)]);
    await this.#after(principal.name);
    return this.view(stored!.row);
  }

  /**
   * MDE's import: up to 500 indicators, each created or updated as by `submit`. Every item is
   * checked first; one bad item refuses the whole import (400 naming the item and field) and
   * changes nothing, so an import is never half done.
   */
  async import(principal: Principal, items: unknown[]): Promise<IndicatorImportView> {
    const checked = items.map((item, i) => {
      const at = `Indicators.${i}.`;
      if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new BadRequestError(`${at.slice(0, -1)} must be an indicator object`, at.slice(0, -1));
      const { body, spelling } = camelKeys(item as Record<string, unknown>, at);
      return this.#check(body, at, spelling);
    });
    const stored = await this.#store(principal, checked, 'ImportIndicators');
    await this.#after(principal.name);
    return { value: stored.map(({ row }) => ({ id: String(row.id), indicator: row.indicator_value, isFailed: false, failureReason: null })) };
  }

  async remove(principal: Principal, id: string): Promise<void> {
    const row = await this.#row(id);
    await this.#delete(principal, [row.id], 'DeleteIndicator');
  }

  /** MDE's BatchDelete: all or nothing; an id that does not exist is a 404 and nothing is deleted. */
  async batchDelete(principal: Principal, ids: (string | number)[]): Promise<void> {
    const wanted = [...new Set(ids.map((raw, i) => idOf(raw, `IndicatorIds.${i}`)))];
    await this.#delete(principal, wanted, 'DeleteIndicators');
  }

  /**
   * Publishes the indicators in force now for agents, unless that is exactly what was published
   * last. One node at a time, each reading the committed set inside the lock: whoever publishes
   * after a change was committed publishes that change, so versions follow changes in order on
   * every node. Answers the version published, or null when nothing changed.
   */
  async publish(actor: string, comment: string | null = null): Promise<number | null> {
    const { kind, name } = INDICATORS_CONTENT;
    return this.locks.exclusive(PUBLISH_LOCK, async () => {
      const rows = await this.repo.active(this.now().toISOString());
      const bytes = Buffer.from(JSON.stringify({ format: 'cordon-indicators/v1', indicators: rows.map(entryOf) } satisfies IndicatorsContent));
      const latest = await this.content.latest(kind, name);
      if (latest ? latest.manifest.sha256 === sha256Hex(bytes) : rows.length === 0) return null;
      return (await this.content.publish(kind, name, bytes, actor, comment)).manifest.version;
    });
  }

  /** The periodic check (every node, every 30 s): a publication without what expired since the last one. */
  async publishExpired(): Promise<number | null> {
    return this.publish('system', 'periodic check: the indicators in force changed (one expired)');
  }

  view(r: IndicatorRow): IndicatorView {
    const type = r.indicator_type as IndicatorType;
    return {
      id: String(r.id),
      indicatorValue: r.indicator_value,
      indicatorType: type,
      action: r.action,
      application: r.application,
      source: r.source,
      sourceType: r.source_type,
      createdBySource: r.source,
      createdBy: r.created_by,
      title: r.title,
      description: r.description,
      recommendedActions: r.recommended_actions,
      severity: r.severity,
      category: r.category,
      mitreTechniques: JSON.parse(r.mitre_techniques) as string[],
      rbacGroupNames: JSON.parse(r.rbac_group_names) as string[],
      rbacGroupIds: [],
      educateUrl: r.educate_url,
      generateAlert: Number(r.generate_alert) === 1,
      creationTimeDateTimeUtc: r.created_at,
      expirationTime: r.expiration_time,
      lastUpdateTime: r.last_update_time,
      lastUpdatedBy: r.last_updated_by,
      isExpired: r.expiration_time !== null && r.expiration_time <= this.now().toISOString(),
      ...enforcementOf(type, r.action as IndicatorAction),
    };
  }

  async #row(id: string): Promise<IndicatorRow> {
    const n = /^\d{1,15}$/.test(id) ? Number(id) : null;
    const row = n === null ? undefined : await this.repo.get(n);
    if (!row) throw new NotFoundError('Indicator', id);
    return row;
  }

  /** Checks one submitted indicator; errors name the field as sent (`at` prefixes an import item's place). */
  #check(body: unknown, at: string, spelling: Spelling): Checked {
    const parsed = IndicatorInput.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      if (issue.code === 'unrecognized_keys') throw new BadRequestError(`${at}${shown(issue.keys[0]!, spelling)} is not a known field of an indicator; remove it`, `${at}${shown(issue.keys[0]!, spelling)}`);
      const field = `${at}${[shown(String(issue.path[0] ?? 'body'), spelling), ...issue.path.slice(1).map(String)].join('.')}`;
      throw new BadRequestError(`${field}: ${issue.message}`, field);
    }
    const i = parsed.data;
    const value = indicatorValueOf(i.indicatorType, i.indicatorValue);
    if ('error' in value) {
      const field = `${at}${shown('indicatorValue', spelling)}`;
      throw new BadRequestError(`${field}: '${i.indicatorValue.slice(0, 200)}' ${value.error}`, field);
    }
    const expires = i.expirationTime ? new Date(i.expirationTime).toISOString() : null;
    if (expires !== null && expires <= this.now().toISOString()) {
      const field = `${at}${shown('expirationTime', spelling)}`;
      throw new BadRequestError(`${field}: ${expires} has passed; give a time in the future, or none for an indicator that never expires`, field);
    }
    return {
      indicator_type: i.indicatorType,
      indicator_value: value.value,
      action: i.action,
      severity: (i.severity ?? 'Informational') satisfies IndicatorSeverity,
      title: i.title,
      description: i.description ?? null,
      recommended_actions: i.recommendedActions ?? null,
      application: i.application ?? null,
      category: i.category ?? null,
      mitre_techniques: JSON.stringify(i.mitreTechniques ?? []),
      rbac_group_names: JSON.stringify(i.rbacGroupNames ?? []),
      educate_url: i.educateUrl ?? null,
      // Alert actions alert whatever the flag says (MDE: Audit needs the flag set): said so in the stored value.
      generate_alert: (i.generateAlert ?? ['Alert', 'AlertAndBlock', 'Audit'].includes(i.action)) ? 1 : 0,
      expiration_time: expires,
    };
  }

  /** Creates or updates each indicator, in one transaction with its audit records. */
  async #store(principal: Principal, items: Checked[], importAction?: string): Promise<{ row: IndicatorRow; previous: IndicatorRow | null }[]> {
    const time = this.now().toISOString();
    return this.tx(async (u) => {
      // One writer at a time (every node): a create-or-update by value never races another.
      await u.indicators.lockWrites();
      const out: { row: IndicatorRow; previous: IndicatorRow | null }[] = [];
      for (const item of items) out.push(await this.#upsert(u, principal, item, time));
      const changes = out.map(({ row, previous }) => ({ id: String(row.id), indicatorType: row.indicator_type, indicatorValue: row.indicator_value, change: previous ? 'Updated' : 'Created' }));
      if (importAction) {
        await u.audit.append([this.audit.row({ actor: principal.name, action: importAction, targetType: 'indicator', targetId: null, outcome: 'Succeeded', detail: { count: out.length, indicators: changes } }, time)]);
      } else {
        const { row, previous } = out[0]!;
        await u.audit.append([
          this.audit.row(
            { actor: principal.name, action: previous ? 'UpdateIndicator' : 'CreateIndicator', targetType: 'indicator', targetId: String(row.id), outcome: 'Succeeded', detail: { ...summary(row), ...(previous ? { previous: summary(previous) } : {}) } },
            time,
          ),
        ]);
      }
      return out;
    });
  }

  async #upsert(u: UnitOfWork, principal: Principal, item: Checked, time: string): Promise<{ row: IndicatorRow; previous: IndicatorRow | null }> {
    const previous = (await u.indicators.byValue(item.indicator_type, item.indicator_value)) ?? null;
    if (previous) {
      const { application: _application, ...changed } = item;
      return { row: await u.indicators.update(previous.id, { ...changed, last_update_time: time, last_updated_by: principal.name }), previous };
    }
    const source = principal.name;
    const row = await u.indicators.insert({ ...item, source, source_type: source.startsWith('app:') ? 'AadApp' : 'User', created_by: source, created_at: time, last_update_time: time, last_updated_by: null });
    return { row, previous: null };
  }

  async #delete(principal: Principal, ids: number[], action: string): Promise<void> {
    const time = this.now().toISOString();
    await this.tx(async (u) => {
      await u.indicators.lockWrites();
      const rows = await u.indicators.getMany(ids);
      const found = new Set(rows.map((r) => r.id));
      const missing = ids.find((id) => !found.has(id));
      if (missing !== undefined) throw new NotFoundError('Indicator', String(missing));
      await u.indicators.delete(ids);
      const detail = action === 'DeleteIndicator' ? summary(rows[0]!) : { count: rows.length, indicators: rows.map((r) => ({ id: String(r.id), ...summary(r) })) };
      await u.audit.append([this.audit.row({ actor: principal.name, action, targetType: 'indicator', targetId: rows.length === 1 ? String(rows[0]!.id) : null, outcome: 'Succeeded', detail }, time)]);
    });
    await this.#after(principal.name);
  }

  /**
   * After a committed change: agents are sent the new set. The change stands if that fails (a full
   * disk); the periodic check publishes it once it can.
   */
  async #after(actor: string): Promise<void> {
    await this.publish(actor).catch((err: unknown) => this.logger.error({ err }, 'publishing the indicators failed; the periodic check retries'));
  }
}

/** What the audit log keeps of an indicator. */
const summary = (r: IndicatorRow) => ({ indicatorType: r.indicator_type, indicatorValue: r.indicator_value, action: r.action, severity: r.severity, title: r.title, expirationTime: r.expiration_time });

/** What agents get of an indicator. */
const entryOf = (r: IndicatorRow): IndicatorEntry => ({
  id: String(r.id),
  value: r.indicator_value,
  type: r.indicator_type,
  action: r.action,
  severity: r.severity,
  title: r.title,
  generateAlert: Number(r.generate_alert) === 1,
  expirationTime: r.expiration_time,
});

/** An indicator id as MDE clients send it: a number, or its digits as text. */
function idOf(raw: string | number, field: string): number {
  const text = String(raw).trim();
  if (!/^\d{1,15}$/.test(text)) throw new BadRequestError(`${field}: '${text.slice(0, 60)}' is not an indicator id (a number)`, field);
  return Number(text);
}

/** An import item's keys in camelCase (MDE clients send PascalCase), remembering how each was spelt. */
function camelKeys(item: Record<string, unknown>, at: string): { body: Record<string, unknown>; spelling: Spelling } {
  const body: Record<string, unknown> = {};
  const spelling: Spelling = {};
  for (const [key, value] of Object.entries(item)) {
    const camel = key.length > 0 ? key[0]!.toLowerCase() + key.slice(1) : key;
    if (camel in body) throw new BadRequestError(`${at}${key} is given twice (as ${spelling[camel]} and ${key}); send it once`, `${at}${key}`);
    body[camel] = value;
    spelling[camel] = key;
  }
  return { body, spelling };
}
