import { randomUUID } from 'node:crypto';
import type { ActionCatalog, ActionSpec, ActionType, CommandSigner } from '@cordon/protocol';
import type { ActionHandlers, ResolvedParameters } from '../actions/index.js';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { ActiveRequestAlreadyExistsError, BadRequestError, markAudited, NotFoundError, NotSupportedError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { ListParams } from '../odata/compile.js';
import type { ActionRow, ActionsRepository, NewAction } from '../repositories/actions.repository.js';
import type { MachineActionView } from '../api/schemas.js';
import { commandFrame, toView, type ActionLifecycle, type AgentChannel } from './action-lifecycle.js';
import type { AgentReportsService } from './agent-reports.service.js';
import type { AuditEntry, AuditService } from './audit.service.js';
import type { Eligibility, MachinesService } from './machines.service.js';
import { unsupportedReason } from './readiness.js';
import type { TimelineService } from './timeline.service.js';
import type { Transactor } from '../repositories/transactor.js';

type Skipped = { machineId: string; code: string; message: string };

/**
 * `p`, with its failure marked as handled now: it is awaited later, and a rejection nobody listens
 * to yet would be reported as unhandled (which ends the process).
 */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Actions per chunk of a bulk submission: signed together, stored in one transaction, then sent. */
const CHUNK = 500;

/**
 * The action engine, as analysts reach it: submit (one machine or many), list, get, cancel. An
 * action is stored (Pending) before anything is sent, every state change is a compare-and-set on
 * the stored status, and the agent's journal makes delivery idempotent, so actions survive
 * restarts on either side and never run twice. It knows no action type: what an action is comes
 * from the catalog, what is special about it from its handler (src/actions/). What agents report
 * is AgentReportsService's; expiry is ActionExpiryService's.
 */
export class ActionsService {
  constructor(
    private readonly repo: ActionsRepository,
    private readonly tx: Transactor,
    private readonly machines: MachinesService,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    private readonly hub: EventHub,
    private readonly metrics: Metrics,
    private readonly signer: CommandSigner,
    private readonly channel: AgentChannel,
    private readonly now: Clock,
    private readonly expirySeconds: number,
    private readonly catalog: ActionCatalog,
    private readonly handlers: ActionHandlers,
    private readonly life: ActionLifecycle,
    private readonly reports: AgentReportsService,
  ) {}

  /** The catalog entry of a type the routes offer. */
  #spec(type: string): ActionSpec {
    const spec = this.catalog.get(type);
    if (!spec) throw new BadRequestError(`Unknown action type '${type}'`, 'type', 'InvalidInput');
    return spec;
  }

  /** Submits an action to one machine: the action, its audit record and its timeline event are stored in one transaction. */
  async submit(principal: Principal, machineId: string, type: string, parameters: Record<string, unknown>, comment: string, opts: { expirySeconds?: number } = {}): Promise<MachineActionView> {
    const spec = this.#spec(type);
    const machine = await this.machines.row(machineId);
    const unsupported = this.#unsupported(machine, spec);
    if (unsupported) throw await this.#refuse(principal, type, machineId, comment, unsupported);
    const { params, refused } = await this.#machineParameters(spec, parameters, [machine]);
    const problem = refused.get(machineId);
    if (problem) throw await this.#refuse(principal, type, machineId, comment, problem);
    const [row] = this.#newRows(principal, [{ machineId, parameters: params.get(machineId)! }], spec, comment, opts.expirySeconds);
    if (!row) throw new Error('unreachable: one machine gives one row');
    const event = this.#submittedEvent(principal, row);
    const inserted = await this.repo.insertBatch([row], (ok) => (ok.has(row.id) ? { audit: [this.audit.row(this.#submittedAudit(principal, row))], timeline: [this.timeline.row(event)] } : { audit: [], timeline: [] }));
    // The store's unique index (one active action per machine and exclusion key) said no.
    if (!inserted.has(row.id)) throw await this.#refuse(principal, type, machineId, comment, new ActiveRequestAlreadyExistsError(machineId));
    // The command goes out first (an isolation takes effect that much sooner); what follows from it
    // for the machine is derived after, from the store, whatever the agent answers meanwhile.
    const stored = { ...(row as ActionRow), computer_dns_name: machine.computer_dns_name };
    await this.life.deliver(stored);
    this.timeline.published([event]);
    this.metrics.actions.inc({ type, status: 'Pending' });
    this.hub.emit({ kind: 'action', actionId: row.id, machineId, status: 'Pending' });
    await this.handlers.for(type)?.actionsChanged?.([machineId]);
    return toView(stored);
  }

  /**
   * Submits the same action to many machines (bulk response by tag or list). Machines that
   * cannot take it are listed in `skipped` with the reason a single submission would have given.
   * Work goes in chunks: each chunk is signed, stored with its audit and timeline records in one
   * transaction, then delivered at once, so the first agents start while later chunks are written.
   */
  async submitMany(principal: Principal, machineIds: string[], type: string, parameters: Record<string, unknown>, comment: string): Promise<{ value: MachineActionView[]; skipped: Skipped[] }> {
    const spec = this.#spec(type);
    const unique = [...new Set(machineIds)];
    const machines = new Map((await this.machines.eligibilityOf(unique)).map((m) => [m.id, m]));
    const skipped: Skipped[] = [];
    const capable: Eligibility[] = [];
    for (const id of unique) {
      const m = machines.get(id);
      const problem = m ? this.#unsupported(m, spec) : new NotFoundError('Machine', id);
      if (problem) skipped.push({ machineId: id, code: problem.code, message: problem.message });
      else capable.push(m!);
    }
    const { params, refused } = await this.#machineParameters(spec, parameters, capable);
    const eligible: { machineId: string; parameters: Record<string, unknown> }[] = [];
    for (const m of capable) {
      const problem = refused.get(m.id);
      if (problem) skipped.push({ machineId: m.id, code: problem.code, message: problem.message });
      else eligible.push({ machineId: m.id, parameters: params.get(m.id)! });
    }
    const submitted: ActionRow[] = [];
    const release = this.reports.holdAcks();
    let failure: unknown = null;
    try {
      await this.#dispatchInChunks(principal, eligible, machines, spec, comment, submitted, skipped);
    } catch (e) {
      failure = e;
    } finally {
      release();
    }
    // One user action, one summary record: the devices it reached and the ones it skipped, and why,
    // also when the store failed part-way (the actions stored before that are committed and sent).
    // Each submitted action has its timeline event, stored with it: the actions are committed, so a
    // failure to write the summary is counted, never answered as a 500.
    const summary: AuditEntry = {
      actor: principal.name,
      action: `Bulk${type}`,
      targetType: 'machine',
      targetId: null,
      comment,
      outcome: failure !== null ? 'Failed' : submitted.length > 0 ? 'Succeeded' : 'Refused',
      detail: { parameters, actions: submitted.map((r) => ({ machineId: r.machine_id, actionId: r.id })), skipped, ...(failure !== null ? { error: String((failure as Error).message ?? failure) } : {}) },
    };
    await this.audit.record(summary).catch(() => this.metrics.auditWriteFailures.inc());
    if (failure !== null) throw failure;
    return { value: submitted.map(toView), skipped };
  }

  async #dispatchInChunks(
    principal: Principal,
    eligible: { machineId: string; parameters: Record<string, unknown> }[],
    machines: Map<string, Eligibility>,
    spec: ActionSpec,
    comment: string,
    submitted: ActionRow[],
    skipped: Skipped[],
  ): Promise<void> {
    const store = (items: typeof eligible) => {
      const rows = this.#newRows(principal, items, spec, comment);
      return this.repo.insertBatch(rows, (ok) => ({ audit: [], timeline: rows.filter((r) => ok.has(r.id)).map((r) => this.timeline.row(this.#submittedEvent(principal, r))) })).then((inserted) => ({ rows, inserted }));
    };
    // While a chunk is sent, a store that writes in parallel (PostgreSQL) is already writing the next
    // ones; a store with one writer (SQLite) writes the next once this one is sent, so as not to
    // delay it. Chunks are sent in order, each once stored; after a failed write no new one starts,
    // the chunks already stored are still sent, and the failure is answered.
    const parallel = this.repo.parallelWrites;
    const writing: ReturnType<typeof store>[] = [];
    let next = 0;
    let failure: unknown = null;
    const writeAhead = () => {
      for (; failure === null && writing.length < parallel && next < eligible.length; next += CHUNK) writing.push(handled(store(eligible.slice(next, next + CHUNK))));
    };
    const marking: Promise<void>[] = [];
    writeAhead();
    while (writing.length > 0) {
      let chunk: Awaited<ReturnType<typeof store>>;
      try {
        chunk = await writing.shift()!;
      } catch (e) {
        failure ??= e;
        continue;
      }
      const { rows, inserted } = chunk;
      if (parallel > 1) writeAhead();
      // Agents other nodes hold are asked for first, so those nodes send while this one does.
      this.channel.relay(rows.filter((r) => inserted.has(r.id)).map((r) => ({ machineId: r.machine_id, actionId: r.id })));
      const delivered: string[] = [];
      for (const r of rows) {
        if (!inserted.has(r.id)) {
          skipped.push({ machineId: r.machine_id, code: 'ActiveRequestAlreadyExists', message: 'Action is already in progress' });
          continue;
        }
        const row = { ...(r as ActionRow), computer_dns_name: machines.get(r.machine_id)!.computer_dns_name };
        submitted.push(row);
        if (this.channel.send(row.machine_id, commandFrame(row))) delivered.push(row.id);
        this.hub.emit({ kind: 'action', actionId: row.id, machineId: row.machine_id, status: 'Pending' });
      }
      writeAhead();
      // Bookkeeping off the path of the next chunk.
      marking.push(handled(this.repo.markDeliveredMany(delivered, this.now().toISOString())));
      this.metrics.actions.inc({ type: spec.type, status: 'Pending' }, inserted.size);
      await this.handlers.for(spec.type)?.actionsChanged?.(rows.filter((r) => inserted.has(r.id)).map((r) => r.machine_id));
    }
    for (const r of await Promise.allSettled(marking)) if (r.status === 'rejected') failure ??= r.reason;
    if (failure !== null) throw failure;
  }

  /** Why `machine`'s agent cannot run `type` (capability, version, what the device lacks), or null. */
  unsupportedReason(machine: Eligibility, spec: ActionSpec): string | null {
    return unsupportedReason(machine, spec);
  }

  /** The types of the actions still Pending or InProgress on a machine. */
  async activeTypes(machineId: string): Promise<string[]> {
    return this.repo.activeTypes(machineId);
  }

  #unsupported(machine: Eligibility, spec: ActionSpec): NotSupportedError | null {
    const reason = unsupportedReason(machine, spec);
    return reason === null ? null : new NotSupportedError(reason);
  }

  /** The parameters each machine's command carries: as submitted, unless the action's handler resolves them. */
  async #machineParameters(spec: ActionSpec, parameters: Record<string, unknown>, machines: Eligibility[]): Promise<ResolvedParameters> {
    const handler = this.handlers.for(spec.type);
    if (handler?.resolveParameters) return handler.resolveParameters(spec, parameters, machines);
    return { params: new Map(machines.map((m) => [m.id, parameters])), refused: new Map() };
  }

  async #refuse(principal: Principal, type: string, machineId: string, comment: string, error: Error): Promise<Error> {
    await this.audit.record({ actor: principal.name, action: type, targetType: 'machine', targetId: machineId, comment, outcome: 'Refused', detail: { reason: error.message } });
    return markAudited(error);
  }

  /**
   * New Pending actions, one per machine, their commands signed now with one signature over the
   * batch (see CommandSigner.signMany): what each agent gets is fixed at submission.
   */
  #newRows(principal: Principal, items: { machineId: string; parameters: Record<string, unknown> }[], spec: ActionSpec, comment: string, expirySeconds = this.expirySeconds): NewAction[] {
    const type = spec.type;
    const now = this.now();
    const issuedAt = now.toISOString();
    const expiresAt = new Date(now.getTime() + expirySeconds * 1000).toISOString();
    // The catalog's types are the protocol's: a type added to the catalog is an ActionType.
    const payloads = items.map(({ machineId, parameters }) => ({ actionId: randomUUID(), machineId, type: type as ActionType, parameters, issuedAt, expiresAt }));
    const signed = this.signer.signMany(payloads);
    const exclusiveKey = this.catalog.exclusionKey(spec);
    // Bulk submissions mostly share one parameters object: serialise each distinct one once.
    const texts = new Map<Record<string, unknown>, string>();
    const textOf = (p: Record<string, unknown>): string => {
      let t = texts.get(p);
      if (t === undefined) texts.set(p, (t = JSON.stringify(p)));
      return t;
    };
    return payloads.map((p, i) => ({
      id: p.actionId,
      machine_id: p.machineId,
      type,
      scope: this.catalog.scope(spec, p.parameters),
      parameters: textOf(p.parameters),
      exclusive_key: exclusiveKey,
      requestor: principal.name,
      requestor_comment: comment,
      status: 'Pending',
      created_at: issuedAt,
      updated_at: issuedAt,
      expires_at: expiresAt,
      delivered_at: null,
      cancellation_requestor: null,
      cancellation_comment: null,
      cancellation_at: null,
      error: null,
      error_hresult: 0,
      result: null,
      signed_payload: signed[i]!.payload,
      signature: signed[i]!.signature,
      signature_proof: signed[i]!.proof ? JSON.stringify(signed[i]!.proof) : null,
      key_id: signed[i]!.keyId,
    }));
  }

  #submittedAudit(principal: Principal, r: NewAction) {
    return { actor: principal.name, action: r.type, targetType: 'machine' as const, targetId: r.machine_id, comment: r.requestor_comment, outcome: 'Succeeded' as const, detail: { actionId: r.id, parameters: JSON.parse(r.parameters) as unknown } };
  }

  #submittedEvent(principal: Principal, r: NewAction) {
    return { machineId: r.machine_id, eventType: 'ActionSubmitted' as const, title: `${this.catalog.label(r.type)} submitted by ${principal.name}`, actor: principal.name, actionId: r.id, data: { comment: r.requestor_comment, parameters: JSON.parse(r.parameters) as unknown } };
  }

  async get(id: string): Promise<MachineActionView> {
    const row = await this.repo.get(id);
    if (!row) throw new NotFoundError('Machine action', id);
    const view = this.life.view(row);
    await this.handlers.decorate([view]);
    return { ...view, stateChanges: await this.timeline.stateChanges(id) };
  }

  async list(q: ListParams): Promise<{ value: MachineActionView[]; count?: number }> {
    const { rows, count } = await this.repo.page(q);
    const value = rows.map((r) => this.life.view(r));
    await this.handlers.decorate(value);
    return { value, count };
  }

  async cancel(principal: Principal, id: string, comment: string): Promise<MachineActionView> {
    await this.reports.drainAcks();
    const row = await this.repo.get(id);
    if (!row) throw new NotFoundError('Machine action', id);
    const time = this.now().toISOString();
    const event = this.life.stateEvent(row, 'Cancelled', `${this.catalog.label(row.type)} cancelled by ${principal.name}`, principal.name, { comment });
    const ok = await this.tx(async (u) => {
      if (!(await u.actions.transition(id, this.catalog.get(row.type)?.cancelWhileRunning ? ['Pending', 'InProgress'] : ['Pending'], { status: 'Cancelled', updated_at: time, cancellation_requestor: principal.name, cancellation_comment: comment, cancellation_at: time }))) return false;
      await u.audit.append([this.audit.row({ actor: principal.name, action: 'CancelAction', targetType: 'action', targetId: id, comment, outcome: 'Succeeded' }, time)]);
      await u.timeline.insert(this.timeline.row(event, time));
      return true;
    });
    if (!ok) {
      await this.audit.record({ actor: principal.name, action: 'CancelAction', targetType: 'action', targetId: id, comment, outcome: 'Refused', detail: { status: row.status } });
      const which = this.catalog.get(row.type)?.cancelWhileRunning ? 'Only pending or running' : 'Only pending';
      throw markAudited(new BadRequestError(`${which} actions can be cancelled; this one is ${row.status}`, 'id', 'InvalidInput'));
    }
    this.timeline.published([event]);
    await this.life.announce(row, 'Cancelled');
    // The agent may already hold the command; telling it lets it drop the command unrun (or stop it, when it may be).
    this.channel.send(row.machine_id, { type: 'cancel', actionId: id });
    return this.get(id);
  }
}
