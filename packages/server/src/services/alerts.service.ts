import { createHash, randomUUID } from 'node:crypto';
import { AgentDetection, EVIDENCE_FIELDS, severityRank, type AlertEvidence, type AlertSeverity, type DeviceEvent } from '@cordon/protocol';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { NotFoundError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { ListParams } from '../odata/compile.js';
import type { AlertCommentRow, AlertRow, AlertsRepository } from '../repositories/alerts.repository.js';
import type { Transactor, UnitOfWork } from '../repositories/transactor.js';
import type { AlertView } from '../api/schemas.js';
import type { AuditService } from './audit.service.js';
import type { DeviceEventsSink } from './device-events.service.js';
import { GroupCommit } from './group-commit.js';
import type { TimelineEvent, TimelineService } from './timeline.service.js';

/** An alert as a sender reported it, checked, before it is stored. */
export interface IncomingAlert {
  /** The device, when the sender named it by id (known to exist), else found by `hostName`. */
  machineId: string | null;
  hostName: string | null;
  title: string;
  description: string | null;
  severity: AlertSeverity;
  category: string | null;
  detectionSource: string;
  threatName: string | null;
  mitreTechniques: string[];
  evidence: AlertEvidence[];
  firstEventTime: string;
  lastEventTime: string;
  /** The same source event sent again has the same key, and is counted on the alert it made. */
  sourceKey: string;
}

/** What an analyst may change on an alert (PATCH, batch update); undefined leaves a field as it is. */
export interface AlertChange {
  status?: string;
  assignedTo?: string | null;
  classification?: string | null;
  determination?: string | null;
  comment?: string;
}

export interface IngestResult {
  alert: AlertView;
  /** False when the source event was sent before: the existing alert's count went up. */
  created: boolean;
}

/** Each item of a batch once committed: its alert as the API shows it, and whether it is new. */
type Stored = IngestResult;

/** A stable key for an alert that came without its source's event id: the same content is the same event. */
export function contentKey(prefix: string, parts: unknown): string {
  return `${prefix}:${createHash('sha256').update(JSON.stringify(parts)).digest('hex')}`;
}

/**
 * The alerts queue: alerts other tools and the agents send, joined to their devices, triaged by
 * analysts. Every change is audited and on the device's timeline; a device's risk follows its
 * open alerts in the same transaction that changes them.
 */
/** An agent's event is one alert, whichever time it is delivered. */
const agentSourceKey = (machineId: string, eventId: string): string => `agent:${machineId}:${eventId}`;

export class AlertsService implements DeviceEventsSink {
  readonly #batches: GroupCommit<{ actor: string; alert: IncomingAlert }, Stored>;

  constructor(
    private readonly repo: AlertsRepository,
    private readonly tx: Transactor,
    private readonly machineExists: (id: string) => Promise<boolean>,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    private readonly hub: EventHub,
    private readonly now: Clock,
  ) {
    // A few milliseconds of company for the first alert of a burst: batches of tens, not of one.
    this.#batches = new GroupCommit((items) => this.#store(items), { lingerMs: 3 });
  }

  async list(q: ListParams, machineId?: string): Promise<{ value: AlertView[]; count?: number }> {
    const { rows, count } = await this.repo.page(q, machineId);
    return { value: await this.#views(rows), count };
  }

  async get(id: string): Promise<AlertView> {
    const row = await this.repo.get(id);
    if (!row) throw new NotFoundError('Alert', id);
    return (await this.#views([row]))[0]!;
  }

  /**
   * Stores an alert (or counts a repeat of one) once it is committed with its audit record, its
   * timeline event and the device's new risk. Alerts arriving together are written together.
   */
  async ingest(actor: string, alert: IncomingAlert): Promise<IngestResult> {
    if (alert.machineId && !(await this.machineExists(alert.machineId))) throw new NotFoundError('Machine', alert.machineId);
    return this.#batches.submit({ actor, alert });
  }

  /**
   * Several alerts from one sender (a forwarder's batch), stored in one transaction, all or none:
   * an unknown device anywhere in it stores nothing. Answers each in the order sent.
   */
  async ingestAll(actor: string, alerts: IncomingAlert[]): Promise<IngestResult[]> {
    for (const id of new Set(alerts.flatMap((a) => (a.machineId ? [a.machineId] : [])))) if (!(await this.machineExists(id))) throw new NotFoundError('Machine', id);
    return this.#batches.submitAll(alerts.map((alert) => ({ actor, alert })));
  }

  /** An agent's detection or blocked execution, delivered at least once: its event id makes it one alert. */
  async accept(machineId: string, event: DeviceEvent): Promise<void> {
    const parsed = AgentDetection.safeParse(event.data);
    // An event this server cannot read is still an alert: losing a detection is worse than a vague one.
    const d: AgentDetection = parsed.success
      ? parsed.data
      : { title: `Unreadable ${event.kind} event from the agent`, severity: 'Medium', description: JSON.stringify(event.data).slice(0, 8192) };
    await this.#batches.submit({
      actor: 'agent',
      alert: {
        machineId,
        hostName: null,
        title: d.title,
        description: d.description ?? null,
        severity: d.severity,
        category: d.category ?? null,
        detectionSource: d.detectionSource ?? (event.kind === 'blockedExecution' ? 'ExecutionControl' : 'Antivirus'),
        threatName: d.threatName ?? null,
        mitreTechniques: d.mitreTechniques ?? [],
        evidence: d.evidence ?? [],
        firstEventTime: new Date(event.occurredAt).toISOString(),
        lastEventTime: new Date(event.occurredAt).toISOString(),
        sourceKey: agentSourceKey(machineId, event.eventId),
      },
    });
  }

  /** The alert each agent event became (see `accept`), in the order asked; null where there is none yet. */
  async alertIdsOfAgentEvents(events: { machineId: string; eventId: string }[]): Promise<(string | null)[]> {
    const keys = events.map((e) => agentSourceKey(e.machineId, e.eventId));
    const ids = await this.repo.idsBySourceKey([...new Set(keys)]);
    return keys.map((k) => ids.get(k) ?? null);
  }

  /** One alert's triage change; an unknown id is a 404. */
  async update(principal: Principal, id: string, change: AlertChange): Promise<AlertView> {
    await this.updateMany(principal, [id], change);
    return this.get(id);
  }

  /** The same triage change on several alerts, all or none: an unknown id changes nothing. */
  async updateMany(principal: Principal, ids: string[], change: AlertChange): Promise<AlertView[]> {
    const unique = [...new Set(ids)];
    const time = this.now().toISOString();
    const events: TimelineEvent[] = [];
    const result = await this.tx(async (u) => {
      const rows = await u.alerts.getMany(unique);
      const found = new Set(rows.map((r) => r.id));
      const missing = unique.find((i) => !found.has(i));
      if (missing) throw new NotFoundError('Alert', missing);
      for (const row of rows) {
        const changes = changesOf(row, change, time);
        if (Object.keys(changes).length) await u.alerts.update(row.id, { ...changes, last_update_time: time });
        if (change.comment) await u.alerts.addComments([{ id: randomUUID(), alert_id: row.id, time, created_by: principal.name, comment: change.comment }]);
        const detail = { changes: publicChanges(changes), ...(change.comment ? { comment: change.comment } : {}) };
        await u.audit.append([this.audit.row({ actor: principal.name, action: 'UpdateAlert', targetType: 'alert', targetId: row.id, comment: change.comment ?? null, outcome: 'Succeeded', detail }, time)]);
        if (row.machine_id) events.push({ machineId: row.machine_id, eventType: 'AlertUpdated', title: updateTitle(row, changes, change.comment), actor: principal.name, data: { alertId: row.id, ...detail } });
      }
      if (events.length) await u.timeline.insertMany(events.map((e) => this.timeline.row(e, time)));
      const risk = change.status ? await u.alerts.refreshRisk(rows.flatMap((r) => (r.machine_id ? [r.machine_id] : []))) : [];
      return { rows, risk };
    });
    this.timeline.published(events);
    this.#announce('updated', result.rows.map((r) => r.id), result.rows.flatMap((r) => (r.machine_id ? [r.machine_id] : [])), result.risk);
    const byId = new Map((await this.repo.getMany(unique)).map((r) => [r.id, r]));
    return this.#views(unique.map((id) => byId.get(id)!));
  }

  /**
   * Inside an enrolling device's transaction: the alerts raised for its host name before it
   * enrolled become its own (its risk follows); answers what to announce once committed.
   */
  async claimForNewDevice(u: UnitOfWork, machineId: string, hostName: string, time: string): Promise<() => void> {
    const claimed = await u.alerts.claimForHost(machineId, hostName.toLowerCase(), time);
    if (claimed.length === 0) return () => undefined;
    const events = claimed.map((a) => raisedEvent(machineId, a, true));
    await u.timeline.insertMany(events.map((e) => this.timeline.row(e, time)));
    const risk = await u.alerts.refreshRisk([machineId]);
    return () => {
      this.timeline.published(events);
      this.#announce('updated', claimed.map((a) => a.id), [machineId], risk);
    };
  }

  /** Writes one batch: new alerts inserted, repeats counted, each audited, devices' risk refreshed. */
  async #store(items: { actor: string; alert: IncomingAlert }[]): Promise<Stored[]> {
    const time = this.now().toISOString();
    const events: TimelineEvent[] = [];
    // The first of each new source key is inserted; the rest of the batch's copies are repeats.
    const fresh = new Map<string, AlertRow>();
    const out = await this.tx(async (u) => {
      const hostKeys = [...new Set(items.flatMap((i) => (!i.alert.machineId && i.alert.hostName ? [i.alert.hostName.toLowerCase()] : [])))];
      const byHost = await u.alerts.machinesByHost(hostKeys);
      const existing = await u.alerts.idsBySourceKey([...new Set(items.map((i) => i.alert.sourceKey))]);
      for (const { actor, alert } of items) {
        if (existing.has(alert.sourceKey) || fresh.has(alert.sourceKey)) continue;
        const device = alert.machineId ? { id: alert.machineId, name: alert.hostName } : alert.hostName ? byHost.get(alert.hostName.toLowerCase()) : undefined;
        fresh.set(alert.sourceKey, newRow(alert, actor, device ?? null, time));
      }
      const inserted = await u.alerts.insertNew([...fresh.values()]);
      // Each key's first item made the alert if it was inserted; every other item is a repeat:
      // sent before, sent twice in this batch, or stored by another node a moment ago.
      const first = new Map<string, number>();
      items.forEach(({ alert }, i) => first.has(alert.sourceKey) || first.set(alert.sourceKey, i));
      const isNew = (key: string, i: number) => inserted.has(key) && first.get(key) === i;
      const repeats = new Map<string, { times: number; last: string }>();
      items.forEach(({ alert }, i) => {
        if (isNew(alert.sourceKey, i)) return;
        const r = repeats.get(alert.sourceKey) ?? { times: 0, last: alert.lastEventTime };
        repeats.set(alert.sourceKey, { times: r.times + 1, last: r.last > alert.lastEventTime ? r.last : alert.lastEventTime });
      });
      const repeatIds = new Map<string, string>();
      for (const [key, r] of repeats) {
        const id = await u.alerts.countRepeat(key, r.times, r.last, time);
        if (!id) throw new Error(`The alert of source key ${key} vanished while it was counted`);
        repeatIds.set(key, id);
      }
      const results = items.map(({ alert }, i) => (isNew(alert.sourceKey, i) ? { id: fresh.get(alert.sourceKey)!.id, created: true } : { id: repeatIds.get(alert.sourceKey)!, created: false }));
      await u.audit.append(
        items.map(({ actor, alert }, i) =>
          this.audit.row({ actor, action: 'IngestAlert', targetType: 'alert', targetId: results[i]!.id, outcome: 'Succeeded', detail: { title: alert.title, severity: alert.severity, detectionSource: alert.detectionSource, machineId: alert.machineId, hostName: alert.hostName, repeat: !results[i]!.created } }, time),
        ),
      );
      for (const row of fresh.values()) if (inserted.has(row.source_key) && row.machine_id) events.push(raisedEvent(row.machine_id, row, false));
      if (events.length) await u.timeline.insertMany(events.map((e) => this.timeline.row(e, time)));
      const risk = await u.alerts.refreshRisk(events.map((e) => e.machineId));
      return { results, risk, inserted, repeated: new Set(repeats.keys()) };
    });
    this.timeline.published(events);
    const created = out.results.filter((r) => r.created);
    this.#announce('created', created.map((r) => r.id), events.map((e) => e.machineId), out.risk);
    const counted = out.results.filter((r) => !r.created).map((r) => r.id);
    if (counted.length) this.#announce('updated', [...new Set(counted)], [], []);
    // Each sender is answered with its alert as stored: a new one as it was inserted (it has no
    // comments yet) unless the batch repeated it, others read again for their count, at once.
    const views = new Map<string, AlertView>();
    for (const row of fresh.values()) if (out.inserted.has(row.source_key) && !out.repeated.has(row.source_key)) views.set(row.id, toView(row, []));
    const reread = [...new Set(out.results.filter((r) => !views.has(r.id)).map((r) => r.id))];
    if (reread.length) for (const v of await this.#views(await this.repo.getMany(reread))) views.set(v.id, v);
    return out.results.map((r) => ({ alert: views.get(r.id)!, created: r.created }));
  }

  /** Tells live views (every node) once committed; alerts go as one event per batch. */
  #announce(change: 'created' | 'updated', alertIds: string[], machineIds: string[], risk: { id: string }[]): void {
    if (alertIds.length) this.hub.emit({ kind: 'alerts', change, alertIds: alertIds.slice(0, 500), machineIds: [...new Set(machineIds)].slice(0, 500) });
    for (const r of risk) this.hub.emit({ kind: 'machine', machineId: r.id, change: 'risk' });
  }

  async #views(rows: AlertRow[]): Promise<AlertView[]> {
    const comments = new Map<string, AlertCommentRow[]>();
    for (const c of await this.repo.commentsOf(rows.map((r) => r.id))) comments.set(c.alert_id, [...(comments.get(c.alert_id) ?? []), c]);
    return rows.map((r) => toView(r, comments.get(r.id) ?? []));
  }
}

/**
 * A UUID whose first 48 bits are the time (version 7): alerts are written in time order, so their
 * primary key grows at one end of its index instead of touching a random page per alert.
 */
function timeOrderedId(ms: number): string {
  // randomUUID draws from a pooled buffer (randomBytes(16) costs a system call per id); its
  // version and variant bits are overwritten with 7's, its first 48 bits with the time.
  const hex = ms.toString(16).padStart(12, '0');
  const r = randomUUID();
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7${r.slice(15, 18)}-${r.slice(19)}`;
}

function newRow(alert: IncomingAlert, actor: string, device: { id: string; name: string | null } | null, time: string): AlertRow {
  return {
    id: timeOrderedId(Date.parse(time)),
    source_key: alert.sourceKey,
    machine_id: device?.id ?? null,
    computer_dns_name: device?.name ?? alert.hostName,
    host_key: alert.hostName?.toLowerCase() ?? null,
    title: alert.title,
    description: alert.description,
    severity: alert.severity,
    severity_rank: severityRank(alert.severity),
    status: 'New',
    classification: null,
    determination: null,
    assigned_to: null,
    category: alert.category,
    detection_source: alert.detectionSource,
    threat_name: alert.threatName,
    mitre_techniques: JSON.stringify(alert.mitreTechniques),
    evidence: JSON.stringify(alert.evidence),
    event_count: 1,
    first_event_time: alert.firstEventTime,
    last_event_time: alert.lastEventTime,
    alert_creation_time: time,
    last_update_time: time,
    resolved_time: null,
    created_by: actor,
  };
}

function raisedEvent(machineId: string, a: Pick<AlertRow, 'id' | 'title' | 'severity' | 'detection_source'>, joined: boolean): TimelineEvent {
  return {
    machineId,
    eventType: 'AlertRaised',
    title: `${a.severity} alert: ${a.title}`.slice(0, 1024),
    data: { alertId: a.id, severity: a.severity, detectionSource: a.detection_source, ...(joined ? { joinedAtEnrollment: true } : {}) },
  };
}

/** The columns a change sets, only where it differs from the row. */
function changesOf(row: AlertRow, c: AlertChange, time: string): Partial<Pick<AlertRow, 'status' | 'assigned_to' | 'classification' | 'determination' | 'resolved_time'>> {
  const out: Partial<Pick<AlertRow, 'status' | 'assigned_to' | 'classification' | 'determination' | 'resolved_time'>> = {};
  if (c.status !== undefined && c.status !== row.status) {
    out.status = c.status;
    out.resolved_time = c.status === 'Resolved' ? time : null;
  }
  if (c.assignedTo !== undefined && c.assignedTo !== row.assigned_to) out.assigned_to = c.assignedTo;
  if (c.classification !== undefined && c.classification !== row.classification) out.classification = c.classification;
  if (c.determination !== undefined && c.determination !== row.determination) out.determination = c.determination;
  return out;
}

function publicChanges(c: ReturnType<typeof changesOf>): Record<string, unknown> {
  const names: Record<string, string> = { status: 'status', assigned_to: 'assignedTo', classification: 'classification', determination: 'determination' };
  return Object.fromEntries(Object.entries(c).flatMap(([k, v]) => (names[k] ? [[names[k], v]] : [])));
}

function updateTitle(row: AlertRow, changes: ReturnType<typeof changesOf>, comment?: string): string {
  const parts = Object.entries(publicChanges(changes)).map(([k, v]) => `${k} ${v === null ? 'cleared' : `set to ${String(v)}`}`);
  if (comment) parts.push('commented');
  return `Alert "${row.title.slice(0, 200)}": ${parts.join(', ') || 'no change'}`;
}

function toView(r: AlertRow, comments: AlertCommentRow[]): AlertView {
  return {
    id: r.id,
    incidentId: null,
    investigationId: null,
    assignedTo: r.assigned_to,
    severity: r.severity,
    status: r.status,
    classification: r.classification,
    determination: r.determination,
    detectionSource: r.detection_source,
    category: r.category,
    threatName: r.threat_name,
    threatFamilyName: r.threat_name,
    title: r.title,
    description: r.description,
    alertCreationTime: r.alert_creation_time,
    firstEventTime: r.first_event_time,
    lastEventTime: r.last_event_time,
    lastUpdateTime: r.last_update_time,
    resolvedTime: r.resolved_time,
    machineId: r.machine_id,
    computerDnsName: r.computer_dns_name,
    rbacGroupName: null,
    mitreTechniques: JSON.parse(r.mitre_techniques) as string[],
    eventCount: Number(r.event_count),
    createdBy: r.created_by,
    comments: comments.map((c) => ({ comment: c.comment, createdBy: c.created_by, createdTime: c.time })),
    evidence: (JSON.parse(r.evidence) as AlertEvidence[]).map((e) => evidenceView(e, r.alert_creation_time)),
  };
}

/** An evidence entity with every field MDE has, null where unknown. */
function evidenceView(e: AlertEvidence, time: string): AlertView['evidence'][number] {
  const out: Record<string, unknown> = {};
  for (const f of EVIDENCE_FIELDS) out[f] = e[f] ?? null;
  out.entityType = e.entityType;
  out.evidenceCreationTime = time;
  return out as AlertView['evidence'][number];
}
