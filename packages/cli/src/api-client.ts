/** The API's answers, as the CLI reads them (the console will share this client). */
export interface Machine {
  id: string;
  computerDnsName: string;
  osPlatform: string;
  osVersion: string;
  agentVersion: string;
  lastIpAddress: string | null;
  lastSeen: string;
  healthStatus: string;
  isolationState: string;
  /** The agent's last isolation report, or null before it sent one. */
  isolation: { state: string; type: string | null; since: string | null; releasedBy: string | null } | null;
  restrictionState: string;
  riskScore: string;
  machineTags: string[];
  machineTagDetails: { tag: string; source: string }[];
  capabilities: { name: string; version: string; provider?: string; unavailable?: string }[];
  isConnected: boolean;
}
export interface MachineAction {
  id: string;
  type: string;
  scope: string | null;
  requestor: string;
  requestorComment: string;
  status: string;
  machineId: string;
  computerDnsName: string;
  creationDateTimeUtc: string;
  lastUpdateDateTimeUtc: string;
  error: string | null;
  result: Record<string, unknown> | null;
  /** The agent's latest progress while the action runs. */
  progress?: { percent: number; message: string | null; at: string };
}

export interface PackageInfo {
  actionId: string;
  machineId: string;
  size: number;
  sha256: string;
  createdAt: string;
  expiresAt: string;
  available: boolean;
}
/** One selective-isolation allow entry: exactly one of destination, program or unit. */
export type AllowEntry = ({ destination: string } | { program: string } | { unit: string }) & { description?: string };
export interface IsolationPolicy {
  scope: 'global' | 'tag';
  tag: string | null;
  allow: AllowEntry[];
  comment: string | null;
  updatedAt: string | null;
  updatedBy: string | null;
}
export interface EffectiveIsolationPolicy {
  machineId: string;
  computerDnsName: string;
  policies: string[];
  allow: (AllowEntry & { from: string[] })[];
}
export interface ReleaseToken {
  token: string;
  tokenId: string;
  machineId: string;
  computerDnsName: string;
  expiresAt: string;
  /** The isolation this token releases (null: whichever is in force when it is used). */
  isolatedSince: string | null;
}
export interface TimelineEvent {
  time: string;
  eventType: string;
  title: string;
  actor: string | null;
  actionId: string | null;
}

export class ApiRequestError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const policyPath = (tag?: string): string => (tag === undefined ? '/api/isolationPolicies/global' : `/api/isolationPolicies/tags/${encodeURIComponent(tag)}`);

const TERMINAL = new Set(['Succeeded', 'Failed', 'TimeOut', 'Cancelled']);

/** A thin typed client over the public REST API. */
export class CordonClient {
  constructor(private readonly baseUrl: string, private readonly token: string) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      throw new ApiRequestError(0, 'Unreachable', `cannot reach ${this.baseUrl}: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // fall through: reported below with the status
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; target?: string } } | null)?.error;
      throw new ApiRequestError(res.status, err?.code ?? 'HttpError', err?.message ? `${err.message}${err.target ? ` (${err.target})` : ''}` : `HTTP ${res.status}`);
    }
    return json as T;
  }

  async machines(query: { filter?: string; top?: number } = {}): Promise<Machine[]> {
    const q = new URLSearchParams();
    if (query.filter) q.set('$filter', query.filter);
    if (query.top) q.set('$top', String(query.top));
    return (await this.request<{ value: Machine[] }>('GET', `/api/machines?${q}`)).value;
  }

  machine(id: string): Promise<Machine> {
    return this.request('GET', `/api/machines/${encodeURIComponent(id)}`);
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
    const q = new URLSearchParams();
    if (query.filter) q.set('$filter', query.filter);
    if (query.top) q.set('$top', String(query.top));
    return (await this.request<{ value: MachineAction[] }>('GET', `/api/machineactions?${q}`)).value;
  }

  action(id: string): Promise<MachineAction> {
    return this.request('GET', `/api/machineactions/${encodeURIComponent(id)}`);
  }

  submit(machineId: string, path: string, body: Record<string, unknown>): Promise<MachineAction> {
    return this.request('POST', `/api/machines/${machineId}/${path}`, body);
  }

  cancel(actionId: string, comment: string): Promise<MachineAction> {
    return this.request('POST', `/api/machineactions/${encodeURIComponent(actionId)}/cancel`, { Comment: comment });
  }

  tag(machineId: string, value: string, action: 'Add' | 'Remove'): Promise<Machine> {
    return this.request('POST', `/api/machines/${machineId}/tags`, { Value: value, Action: action });
  }

  async tagMany(machineIds: string[], value: string, action: 'Add' | 'Remove'): Promise<Machine[]> {
    return (await this.request<{ value: Machine[] }>('POST', '/api/machines/AddOrRemoveTagForMultipleMachines', { Value: value, Action: action, MachineIds: machineIds })).value;
  }

  async timeline(machineId: string, top = 50): Promise<TimelineEvent[]> {
    return (await this.request<{ value: TimelineEvent[] }>('GET', `/api/machines/${machineId}/timeline?$top=${top}`)).value;
  }

  async isolationPolicies(): Promise<IsolationPolicy[]> {
    return (await this.request<{ value: IsolationPolicy[] }>('GET', '/api/isolationPolicies')).value;
  }

  /** The global policy (tag undefined) or a tag's policy. */
  isolationPolicy(tag?: string): Promise<IsolationPolicy> {
    return this.request('GET', policyPath(tag));
  }

  setIsolationPolicy(tag: string | undefined, allow: AllowEntry[], comment: string): Promise<IsolationPolicy> {
    return this.request('PUT', policyPath(tag), { Comment: comment, Allow: allow });
  }

  async deleteIsolationPolicy(tag: string, comment: string): Promise<void> {
    await this.request('DELETE', policyPath(tag), { Comment: comment });
  }

  effectiveIsolationPolicy(machineId: string): Promise<EffectiveIsolationPolicy> {
    return this.request('GET', `/api/machines/${machineId}/isolationPolicy`);
  }

  releaseToken(machineId: string, comment: string, expiresInHours?: number): Promise<ReleaseToken> {
    return this.request('POST', `/api/machines/${machineId}/releaseToken`, { Comment: comment, ...(expiresInHours !== undefined ? { ExpiresInHours: expiresInHours } : {}) });
  }

  /** Polls until the action ends (or the deadline passes), reporting each status change. */
  /** MDE's GetPackageUri: a short-lived URL that downloads the package without a token. */
  packageUri(actionId: string): Promise<{ value: string; expiresAt: string }> {
    return this.request('GET', `/api/machineactions/${actionId}/GetPackageUri`);
  }

  async packages(machineId: string): Promise<PackageInfo[]> {
    return (await this.request<{ value: PackageInfo[] }>('GET', `/api/machines/${machineId}/packages`)).value;
  }

  async waitFor(actionId: string, timeoutMs: number, onChange: (a: MachineAction) => void): Promise<MachineAction> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const a = await this.action(actionId);
      const now = `${a.status}|${a.progress?.percent ?? ''}|${a.progress?.message ?? ''}`;
      if (now !== last) onChange(a);
      last = now;
      if (TERMINAL.has(a.status) || Date.now() > deadline) return a;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
