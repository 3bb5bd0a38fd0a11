import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { ApiRequestError, createCordonClient, LiveSocket, ok, type Alert, type components, type AllowEntry, type CordonApi, type Indicator, type IndicatorSubmission, type LibraryFile, type LiveSocketOptions, type Machine, type MachineAction, type QuarantinedFile, type RulePack, type RulePackDetail } from '@cordon/api-client';

export { ApiRequestError };
export type LiveSession = components['schemas']['LiveSession'];
export type LiveCommand = components['schemas']['LiveCommand'];
export type LiveTranscript = components['schemas']['LiveTranscript'];
export type LiveCompletion = components['schemas']['LiveCompletion'];
export type { Alert, AllowEntry, DeviceGroup, EffectiveIsolationPolicy, Indicator, IndicatorSubmission, IsolationPolicy, LibraryFile, Machine, MachineAction, PackageInfo, QuarantinedFile, ReleaseToken, RulePack, RulePackDetail, TimelineEvent } from '@cordon/api-client';

const TERMINAL = new Set(['Succeeded', 'Failed', 'TimeOut', 'Cancelled']);

/** A list query; an empty filter or a zero top is left out, as if not given. */
const odataQuery = (q: { filter?: string; top?: number }) => ({ $filter: q.filter || undefined, $top: q.top || undefined });

/** The CLI's calls, on the shared typed client: lookups by name or IP, and following an action to its end. */
export class CordonClient {
  readonly api: CordonApi;
  readonly #baseUrl: string;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    this.api = createCordonClient({ baseUrl, token });
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
  }

  async machines(query: { filter?: string; top?: number } = {}): Promise<Machine[]> {
    return (await ok(this.api.GET('/api/machines', { params: { query: odataQuery(query) } }))).value;
  }

  /** Any call, untyped: for paths the helpers here do not cover (tests send MDE's PascalCase bodies with it). */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const call = this.api.request as (method: string, path: string, init: { body?: unknown }) => Promise<{ data?: T; error?: unknown; response: Response }>;
    return ok(call(method.toLowerCase(), path, { body }));
  }

  async machine(id: string): Promise<Machine> {
    const m = await ok(this.api.GET('/api/machines/{id}', { params: { path: { id } } }));
    if ('value' in m) throw new ApiRequestError(400, 'InvalidInput', `'${id}' is a findbyip(…) query, not a machine id`, 'id');
    return m;
  }

  /** Finds a machine by id, host name or IP address; exactly one must match. */
  async resolveMachine(ref: string): Promise<Machine> {
    if (/^[0-9a-f]{40}$/.test(ref)) return this.machine(ref);
    const quoted = `'${ref.replace(/'/g, "''")}'`;
    const found = await this.machines({ filter: `computerDnsName eq ${quoted} or lastIpAddress eq ${quoted}` });
    if (found.length === 0) throw new ApiRequestError(404, 'ResourceNotFound', `no machine is named or has the IP address '${ref}'`);
    if (found.length > 1) throw new ApiRequestError(400, 'Ambiguous', `'${ref}' matches ${found.length} machines (${found.map((m) => m.id).join(', ')}); use the id`);
    return found[0]!;
  }

  async actions(query: { filter?: string; top?: number } = {}): Promise<MachineAction[]> {
    return (await ok(this.api.GET('/api/machineactions', { params: { query: odataQuery(query) } }))).value;
  }

  action(id: string): Promise<MachineAction> {
    return ok(this.api.GET('/api/machineactions/{id}', { params: { path: { id } } }));
  }

  /** Submits a machine action (`path` under /api/machines/{id}/) with its MDE-style body, e.g. `{ Comment }`. */
  submit(machineId: string, path: string, body: Record<string, unknown>): Promise<MachineAction> {
    return this.request('POST', `/api/machines/${encodeURIComponent(machineId)}/${path}`, body);
  }

  cancel(actionId: string, comment: string): Promise<MachineAction> {
    return ok(this.api.POST('/api/machineactions/{id}/cancel', { params: { path: { id: actionId } }, body: { comment } }));
  }

  tag(machineId: string, value: string, action: 'Add' | 'Remove'): Promise<Machine> {
    return ok(this.api.POST('/api/machines/{id}/tags', { params: { path: { id: machineId } }, body: { value, action } }));
  }

  async tagMany(machineIds: string[], value: string, action: 'Add' | 'Remove'): Promise<Machine[]> {
    return (await ok(this.api.POST('/api/machines/AddOrRemoveTagForMultipleMachines', { body: { value, action, machineIds } }))).value;
  }

  /** Admin: revokes a device's credential (the agent is disconnected and refused from then on). */
  revokeCredential(machineId: string, comment: string): Promise<Machine> {
    return ok(this.api.POST('/api/machines/{id}/revokeCredential', { params: { path: { id: machineId } }, body: { comment } }));
  }

  async timeline(machineId: string, top = 50) {
    return (await ok(this.api.GET('/api/machines/{id}/timeline', { params: { path: { id: machineId }, query: { $top: top } } }))).value;
  }

  async isolationPolicies() {
    return (await ok(this.api.GET('/api/isolationPolicies'))).value;
  }

  /** The global policy (tag undefined) or a tag's policy. */
  isolationPolicy(tag?: string) {
    return ok(tag === undefined ? this.api.GET('/api/isolationPolicies/global') : this.api.GET('/api/isolationPolicies/tags/{tag}', { params: { path: { tag } } }));
  }

  setIsolationPolicy(tag: string | undefined, allow: AllowEntry[], comment: string) {
    const body = { comment, allow };
    return ok(tag === undefined ? this.api.PUT('/api/isolationPolicies/global', { body }) : this.api.PUT('/api/isolationPolicies/tags/{tag}', { params: { path: { tag } }, body }));
  }

  async deleteIsolationPolicy(tag: string, comment: string): Promise<void> {
    await ok(this.api.DELETE('/api/isolationPolicies/tags/{tag}', { params: { path: { tag } }, body: { comment } }));
  }

  async scanPolicies() {
    return (await ok(this.api.GET('/api/scanPolicies'))).value;
  }

  /** Sets the global scan policy (tag undefined) or a tag's. */
  setScanPolicy(tag: string | undefined, cpuPercent: number, comment?: string) {
    const body = { cpuPercent, ...(comment ? { comment } : {}) };
    return ok(tag === undefined ? this.api.PUT('/api/scanPolicies/global', { body }) : this.api.PUT('/api/scanPolicies/tags/{tag}', { params: { path: { tag } }, body }));
  }

  async deleteScanPolicy(tag: string | undefined, comment?: string): Promise<void> {
    const query = { comment };
    await ok(tag === undefined ? this.api.DELETE('/api/scanPolicies/global', { params: { query } }) : this.api.DELETE('/api/scanPolicies/tags/{tag}', { params: { path: { tag }, query } }));
  }

  async deviceGroups() {
    return (await ok(this.api.GET('/api/machinegroups'))).value;
  }

  addDeviceGroup(body: { name: string; description?: string | null; rank?: number; rule: { tag: string }; liveResponseShell?: boolean; comment?: string }) {
    return ok(this.api.POST('/api/machinegroups', { body }));
  }

  updateDeviceGroup(id: number, body: { name?: string; description?: string | null; rank?: number; rule?: { tag: string }; liveResponseShell?: boolean; comment?: string }) {
    return ok(this.api.PATCH('/api/machinegroups/{id}', { params: { path: { id } }, body }));
  }

  async deleteDeviceGroup(id: number, comment?: string): Promise<void> {
    await ok(this.api.DELETE('/api/machinegroups/{id}', { params: { path: { id }, query: { comment } } }));
  }

  effectiveIsolationPolicy(machineId: string) {
    return ok(this.api.GET('/api/machines/{id}/isolationPolicy', { params: { path: { id: machineId } } }));
  }

  releaseToken(machineId: string, comment: string, expiresInHours?: number) {
    return ok(this.api.POST('/api/machines/{id}/releaseToken', { params: { path: { id: machineId } }, body: { comment, expiresInHours } }));
  }

  async audit(top = 50) {
    return (await ok(this.api.GET('/api/audit', { params: { query: { $top: top } } }))).value;
  }

  auditVerify() {
    return ok(this.api.GET('/api/audit/verify'));
  }

  /** MDE's GetPackageUri: a short-lived URL that downloads the package without a token. */
  packageUri(actionId: string) {
    return ok(this.api.GET('/api/machineactions/{id}/GetPackageUri', { params: { path: { id: actionId } } }));
  }

  async packages(machineId: string) {
    return (await ok(this.api.GET('/api/machines/{id}/packages', { params: { path: { id: machineId } } }))).value;
  }

  async alerts(query: { filter?: string; top?: number; orderby?: string } = {}): Promise<Alert[]> {
    return (await ok(this.api.GET('/api/alerts', { params: { query: { ...odataQuery(query), $orderby: query.orderby || undefined } } }))).value;
  }

  alert(id: string): Promise<Alert> {
    return ok(this.api.GET('/api/alerts/{id}', { params: { path: { id } } }));
  }

  /** Triage: status, assignment, classification, determination, a comment; only what is given changes. */
  updateAlert(id: string, change: { status?: 'New' | 'InProgress' | 'Resolved'; assignedTo?: string | null; classification?: string | null; determination?: string | null; comment?: string }): Promise<Alert> {
    return this.request('PATCH', `/api/alerts/${encodeURIComponent(id)}`, change);
  }

  async indicators(query: { filter?: string; top?: number } = {}): Promise<Indicator[]> {
    return (await ok(this.api.GET('/api/indicators', { params: { query: odataQuery(query) } }))).value;
  }

  /** Creates the indicator, or updates the one with the same type and value. */
  submitIndicator(body: IndicatorSubmission): Promise<Indicator> {
    return ok(this.api.POST('/api/indicators', { body }));
  }

  /** Deletes indicators: one with DELETE, several with BatchDelete (all of them, or none when one is not found). */
  async deleteIndicators(ids: string[]): Promise<void> {
    if (ids.length === 1) await ok(this.api.DELETE('/api/indicators/{id}', { params: { path: { id: ids[0]! } } }));
    else await ok(this.api.POST('/api/indicators/BatchDelete', { body: { indicatorIds: ids } }));
  }

  /** MDE's import: up to 500 indicators, all of them or none. */
  async importIndicators(items: Record<string, unknown>[]) {
    return (await ok(this.api.POST('/api/indicators/import', { body: { indicators: items } }))).value;
  }

  async rulePacks(): Promise<RulePack[]> {
    return (await ok(this.api.GET('/api/rulepacks'))).value;
  }

  rulePack(name: string): Promise<RulePackDetail> {
    return ok(this.api.GET('/api/rulepacks/{name}', { params: { path: { name } } }));
  }

  /** Uploads a pack, or its next version; the version in force sent again is answered as it is. */
  uploadRulePack(body: { name: string; source: string; description?: string; comment?: string }): Promise<RulePackDetail> {
    return ok(this.api.POST('/api/rulepacks', { body }));
  }

  async deleteRulePack(name: string, comment?: string): Promise<void> {
    await ok(this.api.DELETE('/api/rulepacks/{name}', { params: { path: { name }, query: { comment } } }));
  }

  async libraryFiles(): Promise<LibraryFile[]> {
    return (await ok(this.api.GET('/api/libraryfiles'))).value;
  }

  /**
   * Uploads a file to the live-response library as MDE clients do (multipart/form-data); `file`
   * is streamed from where it lies (a Blob from `openAsBlob`), never read whole.
   */
  uploadLibraryFile(file: Blob, fields: { fileName: string; description?: string; parametersDescription?: string; override?: boolean; signature?: string; comment?: string }): Promise<LibraryFile> {
    const form = new FormData();
    form.append('File', file, fields.fileName);
    if (fields.description !== undefined) form.append('Description', fields.description);
    if (fields.parametersDescription !== undefined) {
      form.append('HasParameters', 'true');
      form.append('ParametersDescription', fields.parametersDescription);
    }
    if (fields.override) form.append('OverrideIfExists', 'true');
    if (fields.signature !== undefined) form.append('Signature', fields.signature);
    if (fields.comment !== undefined) form.append('Comment', fields.comment);
    // openapi-fetch sends FormData as it is (the boundary set by fetch).
    return ok(this.api.POST('/api/libraryfiles', { body: form as never }));
  }

  async deleteLibraryFile(fileName: string, comment?: string): Promise<void> {
    await ok(this.api.DELETE('/api/libraryfiles/{fileName}', { params: { path: { fileName }, query: { comment } } }));
  }

  /** A device's quarantined files, newest first. */
  async quarantine(machineId: string): Promise<QuarantinedFile[]> {
    return (await ok(this.api.GET('/api/machines/{id}/quarantine', { params: { path: { id: machineId } } }))).value;
  }

  /** Opens a live-response session on a device (Queued until the device takes it). */
  openLiveSession(machineId: string, comment: string): Promise<LiveSession> {
    return ok(this.api.POST('/api/machines/{id}/liveResponseSessions', { params: { path: { id: machineId } }, body: { comment } }));
  }

  async liveSessions(machineId?: string, top?: number): Promise<LiveSession[]> {
    return (await ok(this.api.GET('/api/liveResponseSessions', { params: { query: { machineId, $top: top } } }))).value;
  }

  liveSession(id: string): Promise<LiveSession> {
    return ok(this.api.GET('/api/liveResponseSessions/{id}', { params: { path: { id } } }));
  }

  /** Tab completion of a path on the device (the word typed, unquoted). */
  completeLivePath(id: string, path: string): Promise<LiveCompletion> {
    return ok(this.api.POST('/api/liveResponseSessions/{id}/complete', { params: { path: { id } }, body: { path } }));
  }

  endLiveSession(id: string, comment?: string): Promise<LiveSession> {
    return ok(this.api.POST('/api/liveResponseSessions/{id}/end', { params: { path: { id } }, body: { comment } }));
  }

  liveTranscript(id: string): Promise<LiveTranscript> {
    return ok(this.api.GET('/api/liveResponseSessions/{id}/transcript', { params: { path: { id }, query: { format: 'json' } } })) as Promise<LiveTranscript>;
  }

  /** The session as an asciicast v2 recording (`asciinema play`). */
  liveCast(id: string): Promise<string> {
    return ok(this.api.GET('/api/liveResponseSessions/{id}/transcript', { params: { path: { id }, query: { format: 'cast' } }, parseAs: 'text' }));
  }

  /**
   * The session's one WebSocket: its lines, keystrokes and Ctrl-C go out on it, and its events
   * (everything so far, then each change) come in, reconnecting when the connection drops.
   */
  liveSocket(id: string, handlers: Pick<LiveSocketOptions, 'onOpen' | 'onEvent' | 'onGone'>): LiveSocket {
    const url = `${this.#baseUrl.replace(/^http/, 'ws')}/api/liveResponseSessions/${encodeURIComponent(id)}/socket`;
    return new LiveSocket({ ...handlers, connect: () => new WebSocket(url, { headers: { authorization: `Bearer ${this.#token}` } }), probe: () => this.liveSession(id) });
  }

  /** Polls until the action ends (or the deadline passes), reporting each status or progress change. */
  /** Polls an action until it ends or `timeoutMs` passed (answering it as it is then); `signal` stops the waiting (it rejects). */
  async waitFor(actionId: string, timeoutMs: number, onChange: (a: MachineAction) => void, signal?: AbortSignal): Promise<MachineAction> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      signal?.throwIfAborted();
      const a = await this.action(actionId);
      const now = `${a.status}|${a.progress?.percent ?? ''}|${a.progress?.message ?? ''}`;
      if (now !== last) onChange(a);
      last = now;
      if (TERMINAL.has(a.status) || Date.now() > deadline) return a;
      await sleep(500, undefined, { signal });
    }
  }
}
