/**
 * Fills a Cordon server data directory's store with a simulated fleet and its history, for
 * benchmarks and console tests that need a realistic amount of data without enrolling agents:
 * devices (varied hostnames, addresses, OS versions, health, risk, isolation and restriction
 * states, user and device tags), machine actions (every type and status, requestors, comments,
 * dates over the last 30 days), their timeline events and audit records.
 *
 * The store is created and migrated by the server's own code (openSqlite), commands are signed
 * with the data directory's own key (as the server would have), and the derived columns follow
 * the server's rules (isolationState is Pending while an Isolate/Unisolate is active, else what
 * the last report says; at most one active action per machine and exclusion key), so a server
 * started on the directory lists everything without errors. No users or tokens are created: the
 * server's first start still prints `admin token:` and `admin password:`.
 *
 * Rows go in with prepared better-sqlite3 statements in one transaction, indexes rebuilt after the
 * load: 10,000 devices and 100,000 actions (~550,000 rows) take 11–16 s on two shared cores.
 *
 *   node --import tsx bench/seed.ts <dataDir> [devices] [actions]
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import type { Insertable } from 'kysely';
import { ACTION_CATALOG, CommandSigner, type ActionStatus, type ActionType, type Capability, type CommandPayload, type Inventory, type IsolationReport } from '@cordon/protocol';
import { openSqlite } from '../packages/server/src/db/database.js';
import type { Database } from '../packages/server/src/db/schema.js';
import type { NewAuditRecord } from '../packages/server/src/repositories/audit.repository.js';
import { chainRecords } from '../packages/server/src/audit/chain.js';
import { loadOrCreateKeys } from '../packages/server/src/pki/keystore.js';

export interface SeedOptions {
  devices: number;
  /** Total actions, spread over the devices at random (some get more than others). */
  actions?: number;
  /** Used when `actions` is not given: devices × actionsPerDevice actions (default 10). */
  actionsPerDevice?: number;
  /** PRNG seed: the same seed gives the same fleet and history (ids excepted). Default 1. */
  seed?: number;
  /** "Now" for the generated history (default: the current time). */
  now?: Date;
  /** The server's actionExpirySeconds (default 3 days): active actions are made to expire after `now`. */
  actionExpirySeconds?: number;
  /** Alerts spread over the devices (default none); devices' risk then follows their open alerts. */
  alerts?: number;
}

export interface SeedResult {
  devices: number;
  actions: number;
  timelineEvents: number;
  auditRecords: number;
  /** Devices carrying each tag (user or device source), as `machineTags/any(t: t eq '<tag>')` counts them. */
  devicesByTag: Record<string, number>;
  actionsByStatus: Record<string, number>;
  actionsByType: Record<string, number>;
  devicesByIsolationState: Record<string, number>;
  alerts: number;
  /** Alerts by `severity/status`, as `$filter=severity eq … and status eq …` counts them. */
  alertsBySeverityStatus: Record<string, number>;
  /** Machine ids in insertion order (the first is a handy device to open). */
  machineIds: string[];
  seconds: number;
}

/** User tags set through the API: 0–3 per device. */
export const USER_TAGS = ['pci', 'prod', 'staging', 'dev', 'finance', 'dmz', 'kiosk', 'vip', 'build', 'lab'] as const;
const SITES = ['ams', 'fra', 'nyc', 'sfo', 'sgp', 'syd'] as const;
const ROLES = [
  { role: 'web', w: 18 },
  { role: 'app', w: 16 },
  { role: 'db', w: 8 },
  { role: 'k8s-node', w: 14 },
  { role: 'build', w: 5 },
  { role: 'ws', w: 25 },
  { role: 'pos', w: 6 },
  { role: 'jump', w: 3 },
  { role: 'mail', w: 2 },
  { role: 'vpn', w: 3 },
] as const;
const OSES = [
  { version: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1.0-28-amd64', w: 30 },
  { version: 'Debian GNU/Linux 11 (bullseye)', kernel: '5.10.0-32-amd64', w: 6 },
  { version: 'Ubuntu 24.04.1 LTS', kernel: '6.8.0-49-generic', w: 22 },
  { version: 'Ubuntu 22.04.5 LTS', kernel: '5.15.0-126-generic', w: 18 },
  { version: 'Red Hat Enterprise Linux 9.4 (Plow)', kernel: '5.14.0-427.42.1.el9_4.x86_64', w: 10 },
  { version: 'Rocky Linux 8.10 (Green Obsidian)', kernel: '4.18.0-553.27.1.el8_10.x86_64', w: 6 },
  { version: 'Amazon Linux 2023.6.20241121', kernel: '6.1.115-126.197.amzn2023.x86_64', w: 5 },
  { version: 'SUSE Linux Enterprise Server 15 SP6', kernel: '6.4.0-150600.23.25-default', w: 3 },
] as const;
const AGENT_VERSIONS = [
  { v: '0.2.1', w: 60 },
  { v: '0.2.0', w: 33 },
  { v: '0.1.0', w: 7 },
] as const;
const RISK = [
  { v: 'None', w: 20 },
  { v: 'Informational', w: 15 },
  { v: 'Low', w: 30 },
  { v: 'Medium', w: 22 },
  { v: 'High', w: 13 },
] as const;
const ALERT_SEVERITIES = [
  { v: 'Informational', w: 20 },
  { v: 'Low', w: 35 },
  { v: 'Medium', w: 30 },
  { v: 'High', w: 15 },
] as const;
const ALERT_STATUSES = [
  { v: 'New', w: 40 },
  { v: 'InProgress', w: 15 },
  { v: 'Resolved', w: 45 },
] as const;
const ALERT_RULES = [
  { title: 'Read sensitive file untrusted', category: 'CredentialAccess', source: 'Falco', mitre: ['T1555'], command: 'cat /etc/shadow' },
  { title: 'Terminal shell in container', category: 'Execution', source: 'Falco', mitre: ['T1059'], command: 'bash' },
  { title: 'Outbound Connection to C2 Servers', category: 'CommandAndControl', source: 'Falco', mitre: ['T1071'], command: 'curl -s http://203.0.113.50:4444/x' },
  { title: 'Write below binary dir', category: 'Persistence', source: 'Falco', mitre: ['T1543'], command: 'cp x /usr/bin/sshd2' },
  { title: 'Linux.Coinminer.XMRig', category: 'Malware', source: 'Antivirus', mitre: ['T1496'], command: '/tmp/.x/xmrig' },
  { title: 'Blocked untrusted program', category: 'Execution', source: 'ExecutionControl', mitre: [], command: '/dev/shm/.k' },
  { title: 'Brute force from one address', category: 'CredentialAccess', source: 'Custom', mitre: ['T1110'], command: 'sshd: root [priv]' },
] as const;
const EXPOSURE = [
  { v: 'None', w: 15 },
  { v: 'Low', w: 40 },
  { v: 'Medium', w: 30 },
  { v: 'High', w: 15 },
] as const;
const TYPES: readonly { v: ActionType; w: number }[] = [
  { v: 'RunAntiVirusScan', w: 22 },
  { v: 'RefreshInventory', w: 16 },
  { v: 'CollectInvestigationPackage', w: 13 },
  { v: 'Isolate', w: 5 },
  { v: 'Unisolate', w: 1 },
  { v: 'StopAndQuarantineFile', w: 10 },
  { v: 'LiveResponse', w: 9 },
  { v: 'RestrictCodeExecution', w: 5 },
  { v: 'UnrestrictCodeExecution', w: 1 },
  { v: 'Offboard', w: 1 },
];
const REQUESTORS = [
  { v: 'admin', w: 10 },
  { v: 'alice.martin@corp.example', w: 25 },
  { v: 'bob.nguyen@corp.example', w: 20 },
  { v: 'carol.diaz@corp.example', w: 15 },
  { v: 'soc-automation', w: 22 },
  { v: 'sentinel-playbook', w: 8 },
] as const;
const COMMENTS: Record<ActionType, readonly string[]> = {
  Isolate: ['Contain: crypto-miner beaconing to {ip}', 'Suspicious outbound SSH brute force ({ticket})', 'Ransomware precursor seen by EDR, containing', 'Isolate pending forensic review ({ticket})'],
  Unisolate: ['Release after remediation verified ({ticket})', 'False positive, releasing', 'Reimaged; releasing isolation'],
  CollectInvestigationPackage: ['Collect evidence for {ticket}', 'Triage package for the IR team', 'Forensics before reimage ({ticket})'],
  RunAntiVirusScan: ['Routine weekly scan', 'Scan after suspicious download ({ticket})', 'Post-incident sweep', 'Scan requested by playbook'],
  RestrictCodeExecution: ['Restrict execution pending reimage ({ticket})', 'Unknown binaries dropped in /tmp'],
  UnrestrictCodeExecution: ['Restriction lifted after cleanup', 'Maintenance window: allow deploys ({ticket})'],
  StopAndQuarantineFile: ['Quarantine dropper seen on {n} hosts', 'Known bad hash from threat intel ({ticket})'],
  RestoreQuarantinedFile: ['False positive: restore ({ticket})'],
  LiveResponse: ['Live response: collect auth logs', 'Pull /var/log/secure for {ticket}', 'Run triage script'],
  Offboard: ['Decommissioned host', 'Offboard: moved to another tenant'],
  RefreshInventory: ['Inventory refresh after patching', 'Refresh before compliance report', 'Refresh requested by playbook'],
};
const FAILURES: Record<ActionType, readonly string[]> = {
  Isolate: ['nft: Could not process rule: No such file or directory', 'The server did not answer over a new connection after the rules were applied; rolled back'],
  Unisolate: ['nft: table inet cordon not found'],
  CollectInvestigationPackage: ['Upload failed: connection reset by peer after 3 retries', 'No space left on device while writing the package'],
  RunAntiVirusScan: ['clamscan exited with code 2: cannot open database', 'Scan exceeded its 3600 s budget'],
  RestrictCodeExecution: ['fanotify_init: Operation not permitted', 'The kernel lacks CONFIG_FANOTIFY_ACCESS_PERMISSIONS'],
  UnrestrictCodeExecution: ['The restriction helper did not answer'],
  StopAndQuarantineFile: ['No file with this hash was found', 'Permission denied: /usr/local/bin/.x'],
  RestoreQuarantinedFile: ['/opt/app/bin/tool: a file (or link) is at that path now; move it away first, then restore'],
  LiveResponse: ['Script exited with code 2', 'Script output exceeded the 10 MB budget'],
  Offboard: ['The agent refused the command: offboarding is disabled by local policy'],
  RefreshInventory: ['Inventory collection timed out'],
};
const OUTCOMES: readonly { v: ActionStatus; w: number }[] = [
  { v: 'Succeeded', w: 78 },
  { v: 'Failed', w: 13 },
  { v: 'Cancelled', w: 9 },
];
/** Releases almost always work (a device left isolated by a failed release is rare). */
const UNDO_OUTCOMES: readonly { v: ActionStatus; w: number }[] = [
  { v: 'Succeeded', w: 97 },
  { v: 'Failed', w: 2 },
  { v: 'Cancelled', w: 1 },
];
const FIRST_NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor', 'walter'];

const DAY = 86_400_000;
const E_FAIL = -2147467259;

/** mulberry32: small, fast, good enough to make varied test data reproducibly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const weighted = <T extends { w: number }>(xs: readonly T[]): T => {
    let r = next() * xs.reduce((s, x) => s + x.w, 0);
    for (const x of xs) if ((r -= x.w) < 0) return x;
    return xs[xs.length - 1]!;
  };
  const hex = (n: number) => {
    let out = '';
    while (out.length < n) out += ((next() * 4294967296) >>> 0).toString(16).padStart(8, '0');
    return out.slice(0, n);
  };
  return { next, int, pick, weighted, hex, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

const iso = (ms: number) => new Date(ms).toISOString();

interface Device {
  id: string;
  name: string;
  site: string;
  agentVersion: string;
  enrolledAt: number;
  lastSeen: number;
}

interface Action {
  id: string;
  device: number;
  type: ActionType;
  created: number;
  status: ActionStatus;
}

function capabilitiesFor(agentVersion: string, r: Rng): Capability[] {
  if (agentVersion === '0.1.0') return [{ name: 'inventory', version: '1' }];
  return [
    { name: 'inventory', version: '1' },
    { name: 'isolation', version: '1', provider: 'nftables 1.0.6' },
    { name: 'investigationPackage', version: '1' },
    r.chance(0.85) ? { name: 'antivirusScan', version: '1', provider: r.pick(['clamav 1.0.7', 'yara-x 0.12.0']) } : { name: 'antivirusScan', version: '1', unavailable: 'clamscan not found' },
    r.chance(0.9) ? { name: 'executionControl', version: '1', provider: 'fanotify' } : { name: 'executionControl', version: '1', unavailable: 'the kernel lacks CONFIG_FANOTIFY_ACCESS_PERMISSIONS' },
    { name: 'quarantine', version: '1' },
    { name: 'liveResponse', version: '1' },
    { name: 'offboard', version: '1' },
  ];
}

function parametersFor(type: ActionType, r: Rng): Record<string, unknown> {
  switch (type) {
    case 'Isolate':
      return { isolationType: r.chance(0.8) ? 'Full' : 'Selective' };
    case 'RunAntiVirusScan':
      return { scanType: r.chance(0.7) ? 'Quick' : 'Full' };
    case 'StopAndQuarantineFile':
      return { sha256: r.hex(64) };
    case 'LiveResponse':
      return { commands: [{ type: 'RunScript', params: [{ key: 'ScriptName', value: r.pick(['collect-auth-logs.sh', 'triage.sh', 'list-cron.sh']) }] }] };
    default:
      return {};
  }
}

function resultFor(type: ActionType, a: Action, end: number, r: Rng, scope: string | null): Record<string, unknown> | null {
  switch (type) {
    case 'Isolate':
      return { isolation: { state: 'Isolated', type: scope === 'Selective' ? 'Selective' : 'Full', since: iso(end), releasedBy: null } satisfies IsolationReport };
    case 'Unisolate':
      return { isolation: { state: 'NotIsolated', type: null, since: null, releasedBy: 'action' } satisfies IsolationReport };
    case 'RunAntiVirusScan': {
      const infected = r.chance(0.1) ? r.int(1, 4) : 0;
      return { scannedFiles: r.int(2_000, 400_000), infected, detections: Array.from({ length: infected }, () => ({ path: `/tmp/.${r.hex(6)}`, signature: r.pick(['Unix.Trojan.Mirai-1', 'Multios.Coinminer.Miner-6781728-2', 'EICAR-Test-File']) })), durationMs: r.int(4_000, 900_000) };
    }
    case 'CollectInvestigationPackage':
      return { size: r.int(40_000, 60_000_000), sha256: r.hex(64), collectors: 24, succeeded: r.int(20, 24), failed: 0, durationMs: r.int(3_000, 60_000) };
    case 'StopAndQuarantineFile':
      return { quarantined: r.chance(0.7) ? [{ path: `/usr/local/bin/.${r.hex(8)}`, sha256: r.hex(64) }] : [], killedProcesses: r.int(0, 3) };
    case 'LiveResponse':
      return { exitCode: 0, output: `collected ${r.int(10, 900)} lines\n`, truncated: false };
    case 'RefreshInventory':
      return { hostname: `action-${a.id.slice(0, 8)}`, ipAddresses: r.int(1, 4) };
    default:
      return null;
  }
}

/**
 * Seeds `dataDir` (created if missing; an existing store gets the rows added). See the file's
 * doc comment for what is made.
 */
export async function seedStore(dataDir: string, opts: SeedOptions): Promise<SeedResult> {
  const t0 = performance.now();
  const r = prng(opts.seed ?? 1);
  const now = (opts.now ?? new Date()).getTime();
  const expiry = (opts.actionExpirySeconds ?? 3 * 86400) * 1000;
  const nActions = opts.actions ?? opts.devices * (opts.actionsPerDevice ?? 10);

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'cordon.db');
  // The server's own migrations make the schema; its own key signs the commands.
  await (await openSqlite(file)).destroy();
  const keys = await loadOrCreateKeys(dataDir);
  const signer = new CommandSigner(keys.signingPrivateKeyPem);

  const db = new SQLite(file);
  // A rollback journal while loading: WAL would write every new page twice (log, then checkpoint).
  db.pragma('journal_mode = DELETE');
  db.pragma('foreign_keys = ON');
  db.pragma('cache_size = -524288'); // 512 MB at most, so the load is not spilled page by page
  const statements = new Map<string, SQLite.Statement>();
  /** One prepared statement per table and column set; rows are plain objects of the schema's types. */
  const insert = <K extends keyof Database>(table: K, row: Insertable<Database[K]>) => {
    const cols = Object.keys(row);
    const key = `${table}:${cols.join(',')}`;
    let st = statements.get(key);
    if (!st) statements.set(key, (st = db.prepare(`insert into ${table} (${cols.join(', ')}) values (${cols.map(() => '?').join(', ')})`)));
    // Positional parameters bind about twice as fast as named ones.
    st.run(Object.values(row));
  };

  // --- devices ---
  const devices: Device[] = [];
  const machineRows: Insertable<Database['machines']>[] = [];
  const tagRows: Insertable<Database['machine_tags']>[] = [];
  const ipRows: Insertable<Database['machine_ips']>[] = [];
  const timeline: Insertable<Database['timeline']>[] = [];
  const audit: NewAuditRecord[] = [];
  const devicesByTag: Record<string, number> = {};
  const roleCounters = new Map<string, number>();
  for (let i = 0; i < opts.devices; i++) {
    const id = randomBytes(20).toString('hex');
    const site = r.pick(SITES);
    const role = r.weighted(ROLES).role;
    const n = (roleCounters.get(role) ?? 0) + 1;
    roleCounters.set(role, n);
    const name = role === 'ws' && r.chance(0.5) ? `laptop-${r.pick(FIRST_NAMES)}-${String(n).padStart(4, '0')}.${site}.corp.example` : `${role}-${String(n).padStart(4, '0')}.${site}.corp.example`;
    const os = r.weighted(OSES);
    const arm = r.chance(0.12);
    const agentVersion = r.weighted(AGENT_VERSIONS).v;
    const enrolledAt = now - 31 * DAY - r.next() * 365 * DAY;
    // Three out of four devices heartbeat (Active: seen within 3 heartbeats); the rest went quiet.
    const lastSeen = r.chance(0.75) ? now - r.next() * 20_000 : now - 5 * 60_000 - r.next() * 20 * DAY;
    const siteNo = SITES.indexOf(site);
    const v4 = `10.${siteNo * 32 + ((i >> 16) & 31)}.${(i >> 8) & 255}.${i & 255}`;
    const mac = () => Array.from({ length: 6 }, (_, k) => (k === 0 ? '02' : r.hex(2))).join(':');
    const ips: Inventory['ipAddresses'] = [{ address: v4, family: 'IPv4', interface: arm ? 'end0' : 'eth0', mac: mac() }];
    if (r.chance(0.4)) ips.push({ address: `fd00:${siteNo.toString(16)}::${i.toString(16)}`, family: 'IPv6', interface: ips[0]!.interface, mac: ips[0]!.mac });
    if (role === 'k8s-node' || role === 'build') ips.push({ address: '172.17.0.1', family: 'IPv4', interface: 'docker0', mac: mac() });
    ips.push({ address: '127.0.0.1', family: 'IPv4', interface: 'lo', mac: null });
    devices.push({ id, name, site, agentVersion, enrolledAt, lastSeen });
    machineRows.push({
      id,
      computer_dns_name: name,
      first_seen: iso(enrolledAt),
      last_seen: iso(lastSeen),
      os_platform: 'Linux',
      os_version: os.version,
      os_processor: arm ? 'arm64' : 'x64',
      kernel: arm ? os.kernel.replace(/amd64|x86_64/, 'arm64').replace('generic', 'generic-64k') : os.kernel,
      agent_version: agentVersion,
      last_ip_address: v4,
      last_external_ip_address: r.chance(0.7) ? `${r.pick(['203.0.113', '198.51.100', '192.0.2'])}.${r.int(1, 254)}` : null,
      ip_addresses: JSON.stringify(ips),
      capabilities: JSON.stringify(capabilitiesFor(agentVersion, r)),
      risk_score: r.weighted(RISK).v,
      exposure_level: r.weighted(EXPOSURE).v,
      // isolation, isolation_state and restriction_state follow from the actions, below.
      aad_device_id: r.chance(0.2) ? randomUUID() : null,
      credential_hash: createHash('sha256').update(randomBytes(32)).digest('hex'),
      isolation: null,
      enrolled_at: iso(enrolledAt),
    });
    for (const ip of ips) if (ip.interface !== 'lo') ipRows.push({ machine_id: id, ip: ip.address, first_seen: iso(enrolledAt), last_seen: iso(lastSeen) });
    timeline.push({ machine_id: id, time: iso(enrolledAt), event_type: 'AgentEnrolled', title: `Device ${name} enrolled`, actor: 'admin', action_id: null, data: null });
    audit.push({ time: iso(enrolledAt), actor: 'agent', action: 'Enroll', target_type: 'machine', target_id: id, comment: null, outcome: 'Succeeded', detail: JSON.stringify({ hostname: name }) });
    const tags = new Set<string>();
    const userTags = new Set<string>();
    for (let k = r.int(0, 3); k > 0; k--) userTags.add(r.pick(USER_TAGS));
    if (role === 'pos') userTags.add('pci');
    for (const tag of userTags) {
      const at = enrolledAt + r.next() * (now - enrolledAt);
      const actor = r.weighted(REQUESTORS).v;
      tagRows.push({ machine_id: id, tag, source: 'user', created_at: iso(at) });
      timeline.push({ machine_id: id, time: iso(at), event_type: 'TagAdded', title: `Tag '${tag}' added by ${actor}`, actor, action_id: null, data: JSON.stringify({ tag }) });
      audit.push({ time: iso(at), actor, action: 'AddTag', target_type: 'machine', target_id: id, comment: null, outcome: 'Succeeded', detail: JSON.stringify({ tag, changed: true }) });
      tags.add(tag);
    }
    // Device tags come from the agent's local config (replaced on every inventory).
    const deviceTags = new Set<string>();
    if (r.chance(0.5)) deviceTags.add(`site-${site}`);
    if (r.chance(0.05)) deviceTags.add('pci');
    for (const tag of deviceTags) {
      tagRows.push({ machine_id: id, tag, source: 'device', created_at: iso(lastSeen) });
      tags.add(tag);
    }
    for (const tag of tags) devicesByTag[tag] = (devicesByTag[tag] ?? 0) + 1;
    if (lastSeen < now - 5 * 60_000) timeline.push({ machine_id: id, time: iso(lastSeen + 95_000), event_type: 'AgentOffline', title: 'Agent disconnected', actor: null, action_id: null, data: null });
    else timeline.push({ machine_id: id, time: iso(now - r.next() * 2 * DAY), event_type: 'AgentOnline', title: `Agent connected (version ${agentVersion})`, actor: null, action_id: null, data: null });
  }

  // --- actions: skeletons first, statuses once each device's history is in order ---
  const byDevice: Action[][] = devices.map(() => []);
  for (let i = 0; i < nActions && devices.length > 0; i++) {
    const device = r.int(0, devices.length - 1);
    const type = devices[device]!.agentVersion === '0.1.0' ? 'RefreshInventory' : r.weighted(TYPES).v;
    // Denser towards now (u²): about a third of the history falls in the last three days.
    const created = now - 60_000 - r.next() ** 2 * 30 * DAY;
    byDevice[device]!.push({ id: randomUUID(), device, type, created, status: 'Succeeded' });
    // Most isolations and restrictions are lifted again later (so a few percent of the fleet stays isolated).
    const undo = type === 'Isolate' ? 'Unisolate' : type === 'RestrictCodeExecution' ? 'UnrestrictCodeExecution' : null;
    const later = created + 3_600_000 + r.next() * 2 * DAY;
    if (undo && later < now - 60_000 && i + 1 < nActions && r.chance(0.9)) {
      byDevice[device]!.push({ id: randomUUID(), device, type: undo, created: later, status: 'Succeeded' });
      i++;
    }
  }
  const actionRows: Insertable<Database['actions']>[] = [];
  const actionParams: Record<string, unknown>[] = [];
  const machineState: { isolation: string | null; isolation_state: string; restriction_state: string }[] = [];
  const actionsByStatus: Record<string, number> = {};
  const actionsByType: Record<string, number> = {};
  for (const list of byDevice) {
    list.sort((a, b) => a.created - b.created);
    // Only the newest action of each exclusion key may still be active (the store's unique index),
    // and only if it has not expired yet.
    const newest = new Map<string, Action>();
    for (const a of list) newest.set(ACTION_CATALOG.exclusionKey(ACTION_CATALOG.get(a.type)!), a);
    let report: IsolationReport | null = null;
    let isolationBusy = false;
    let restricted = false;
    let restrictionBusy = false;
    for (const a of list) {
      // Online agents finish in seconds: what is still active is mostly very new, or waits for an offline device.
      const recent = a.created > now - expiry + 3_600_000;
      if (newest.get(ACTION_CATALOG.exclusionKey(ACTION_CATALOG.get(a.type)!)) === a && recent && r.chance(a.created > now - 2 * 3_600_000 ? 0.6 : 0.1)) a.status = r.chance(0.55) ? 'Pending' : 'InProgress';
      else if (a.created + expiry < now && r.chance(0.08)) a.status = 'TimeOut';
      else a.status = r.weighted(a.type === 'Unisolate' || a.type === 'UnrestrictCodeExecution' ? UNDO_OUTCOMES : OUTCOMES).v;
      actionsByStatus[a.status] = (actionsByStatus[a.status] ?? 0) + 1;
      actionsByType[a.type] = (actionsByType[a.type] ?? 0) + 1;

      const d = devices[a.device]!;
      const requestor = r.weighted(REQUESTORS).v;
      const comment = r
        .pick(COMMENTS[a.type])
        .replace('{ticket}', `${r.pick(['INC', 'IR', 'SOC'])}-${r.int(1000, 9999)}`)
        .replace('{ip}', `185.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`)
        .replace('{n}', String(r.int(2, 40)));
      const parameters = parametersFor(a.type, r);
      const scope = ACTION_CATALOG.scope(ACTION_CATALOG.get(a.type)!, parameters);
      const expires = a.created + expiry;
      const started = a.created + r.int(200, 30_000);
      const ended = Math.min(started + r.int(500, 20 * 60_000), now - 1000);
      let updated = a.created;
      let delivered: number | null = null;
      let error: string | null = null;
      let result: Record<string, unknown> | null = null;
      let cancellation: { by: string; comment: string; at: number } | null = null;
      const at = (ms: number, type: string, title: string, actor: string | null, data: Record<string, unknown>) =>
        timeline.push({ machine_id: d.id, time: iso(ms), event_type: type, title, actor, action_id: a.id, data: JSON.stringify(data) });
      at(a.created, 'ActionSubmitted', `${a.type} submitted by ${requestor}`, requestor, { comment, parameters });
      audit.push({ time: iso(a.created), actor: requestor, action: a.type, target_type: 'machine', target_id: d.id, comment, outcome: 'Succeeded', detail: JSON.stringify({ actionId: a.id, parameters }) });
      switch (a.status) {
        case 'Pending':
          // Offline devices have not taken it yet; online ones only just got it.
          delivered = d.lastSeen > now - 60_000 ? a.created + 50 : null;
          break;
        case 'InProgress':
          delivered = a.created + 50;
          updated = started;
          at(started, 'ActionStateChanged', `${a.type} started on the device`, null, { status: 'InProgress' });
          break;
        case 'Succeeded':
        case 'Failed':
          delivered = a.created + 50;
          updated = ended;
          at(started, 'ActionStateChanged', `${a.type} started on the device`, null, { status: 'InProgress' });
          if (a.status === 'Succeeded') {
            result = resultFor(a.type, a, ended, r, scope);
            at(ended, 'ActionStateChanged', `${a.type} succeeded`, null, { status: 'Succeeded', error: null, result });
          } else {
            error = r.pick(FAILURES[a.type]);
            at(ended, 'ActionStateChanged', `${a.type} failed: ${error}`, null, { status: 'Failed', error, result: null });
          }
          break;
        case 'TimeOut':
          updated = expires + r.int(0, 10_000);
          error = `The device did not complete the action before it expired at ${iso(expires)}`;
          at(updated, 'ActionStateChanged', `${a.type} timed out`, null, { status: 'TimeOut' });
          break;
        case 'Cancelled': {
          const by = r.weighted(REQUESTORS).v;
          cancellation = { by, comment: r.pick(['Submitted by mistake', 'Superseded by a newer action', 'Device is being reimaged', 'Duplicate of an earlier request']), at: Math.min(a.created + r.int(5_000, 3_600_000), now - 1000) };
          updated = cancellation.at;
          at(cancellation.at, 'ActionStateChanged', `${a.type} cancelled by ${by}`, by, { status: 'Cancelled', comment: cancellation.comment });
          audit.push({ time: iso(cancellation.at), actor: by, action: 'CancelAction', target_type: 'action', target_id: a.id, comment: cancellation.comment, outcome: 'Succeeded', detail: null });
          break;
        }
        default:
          break;
      }
      // The machine's isolation and restriction follow its last finished and active actions.
      const active = a.status === 'Pending' || a.status === 'InProgress';
      if (a.type === 'Isolate' || a.type === 'Unisolate') {
        if (active) isolationBusy = true;
        else if (a.status === 'Succeeded') report = result!.isolation as IsolationReport;
      }
      if (a.type === 'RestrictCodeExecution' || a.type === 'UnrestrictCodeExecution') {
        if (active) restrictionBusy = true;
        else if (a.status === 'Succeeded') restricted = a.type === 'RestrictCodeExecution';
      }
      actionParams.push(parameters);
      actionRows.push({
        id: a.id,
        machine_id: d.id,
        type: a.type,
        scope,
        parameters: JSON.stringify(parameters),
        exclusive_key: ACTION_CATALOG.exclusionKey(ACTION_CATALOG.get(a.type)!),
        requestor,
        requestor_comment: comment,
        status: a.status,
        created_at: iso(a.created),
        updated_at: iso(updated),
        expires_at: iso(expires),
        delivered_at: delivered === null ? null : iso(delivered),
        cancellation_requestor: cancellation?.by ?? null,
        cancellation_comment: cancellation?.comment ?? null,
        cancellation_at: cancellation ? iso(cancellation.at) : null,
        error,
        error_hresult: error ? E_FAIL : 0,
        result: result ? JSON.stringify(result) : null,
        // Signed below, in batches, as the server signs bulk submissions.
        signed_payload: '',
        signature: '',
        signature_proof: null,
        key_id: '',
      });
    }
    // Agents from 0.2 on report their isolation state in every inventory.
    if (!report && devices[machineState.length]!.agentVersion !== '0.1.0') report = { state: 'NotIsolated', type: null, since: null, releasedBy: null };
    machineState.push({
      isolation: report ? JSON.stringify(report) : null,
      isolation_state: isolationBusy ? 'Pending' : (report?.state ?? 'NotIsolated'),
      restriction_state: restrictionBusy ? 'Pending' : restricted ? 'Restricted' : 'Unrestricted',
    });
  }
  const devicesByIsolationState: Record<string, number> = {};
  machineRows.forEach((m, i) => {
    Object.assign(m, machineState[i]);
    devicesByIsolationState[m.isolation_state!] = (devicesByIsolationState[m.isolation_state!] ?? 0) + 1;
  });

  // Commands signed as the server signs bulk submissions: one signature per 500 (Merkle batch).
  for (let i = 0; i < actionRows.length; i += 500) {
    const chunk = actionRows.slice(i, i + 500);
    const payloads: CommandPayload[] = chunk.map((row, k) => ({ actionId: row.id, machineId: row.machine_id, type: row.type as ActionType, parameters: actionParams[i + k]!, issuedAt: row.created_at, expiresAt: row.expires_at }));
    signer.signMany(payloads).forEach((s, k) => {
      const row = chunk[k]!;
      row.signed_payload = s.payload;
      row.signature = s.signature;
      row.signature_proof = s.proof ? JSON.stringify(s.proof) : null;
      row.key_id = s.keyId;
    });
  }

  // --- alerts: the queue, and devices' risk from their open ones ---
  const alertRows: Insertable<Database['alerts']>[] = [];
  const alertsBySeverityStatus: Record<string, number> = {};
  const highestOpen = new Map<string, number>();
  for (let i = 0; i < (opts.alerts ?? 0); i++) {
    // A few devices draw most alerts (the noisy ones), as in a real queue.
    const d = devices[r.chance(0.3) ? r.int(0, Math.max(0, Math.floor(devices.length / 20) - 1)) : r.int(0, devices.length - 1)]!;
    const severity = r.weighted(ALERT_SEVERITIES).v;
    const status = r.weighted(ALERT_STATUSES).v;
    const rule = r.pick(ALERT_RULES);
    const created = now - r.next() * 30 * DAY;
    const rank = ['Informational', 'Low', 'Medium', 'High'].indexOf(severity) + 1;
    if (status !== 'Resolved') highestOpen.set(d.id, Math.max(highestOpen.get(d.id) ?? 0, rank));
    alertsBySeverityStatus[`${severity}/${status}`] = (alertsBySeverityStatus[`${severity}/${status}`] ?? 0) + 1;
    alertRows.push({
      id: randomUUID(),
      source_key: `seed:${i}:${r.hex(8)}`,
      machine_id: d.id,
      computer_dns_name: d.name,
      host_key: d.name.toLowerCase(),
      title: rule.title,
      description: `${rule.title} on ${d.name} (user=${r.pick(['root', 'www-data', 'postgres', 'deploy'])} pid=${r.int(300, 99_999)})`,
      severity,
      severity_rank: rank,
      status,
      classification: status === 'Resolved' ? r.pick(['TruePositive', 'FalsePositive', 'InformationalExpectedActivity']) : null,
      determination: null,
      assigned_to: status === 'New' ? null : r.weighted(REQUESTORS).v,
      category: rule.category,
      detection_source: rule.source,
      threat_name: null,
      mitre_techniques: JSON.stringify(rule.mitre),
      evidence: JSON.stringify([{ entityType: 'Process', processId: r.int(300, 99_999), processCommandLine: rule.command, accountName: 'root' }]),
      event_count: r.chance(0.8) ? 1 : r.int(2, 40),
      first_event_time: iso(created - r.int(0, 60_000)),
      last_event_time: iso(created),
      alert_creation_time: iso(created),
      last_update_time: iso(created + (status === 'New' ? 0 : r.int(60_000, DAY))),
      resolved_time: status === 'Resolved' ? iso(created + r.int(60_000, DAY)) : null,
      created_by: rule.source === 'Falco' ? 'falco' : rule.source === 'Custom' ? 'siem' : 'agent',
    });
  }
  if (opts.alerts) for (const m of machineRows) m.risk_score = ['None', 'Informational', 'Low', 'Medium', 'High'][highestOpen.get(m.id!) ?? 0]!;

  // Audit ids follow time, as they would in a live store (the audit log lists by id).
  audit.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  // Indexes are built once after the load (a sort) instead of row by row (random b-tree inserts):
  // several times faster. Their definitions come from the migrated store itself.
  const tables = ['machines', 'machine_tags', 'machine_ips', 'actions', 'timeline', 'audit_log', 'alerts'];
  const indexes = db.prepare(`select name, sql from sqlite_master where type = 'index' and sql is not null and tbl_name in (${tables.map(() => '?').join(', ')})`).all(...tables) as { name: string; sql: string }[];
  db.transaction(() => {
    for (const ix of indexes) db.exec(`drop index "${ix.name}"`);
    for (const m of machineRows) insert('machines', m);
    for (const t of tagRows) insert('machine_tags', t);
    for (const ip of ipRows) insert('machine_ips', ip);
    for (const a of actionRows) insert('actions', a);
    for (const e of timeline) insert('timeline', e);
    for (const a of alertRows) insert('alerts', a);
    // Chained as the server would have written them, so `cordon audit verify` holds on a seeded store.
    const chained = chainRecords(db.prepare('select seq, hash from audit_chain where id = 1').get() as { seq: number; hash: string }, audit);
    for (const row of chained.rows) insert('audit_log', row);
    db.prepare('update audit_chain set seq = ?, hash = ? where id = 1').run(chained.head.seq, chained.head.hash);
    for (const ix of indexes) db.exec(ix.sql);
  })();
  // No ANALYZE (PRAGMA optimize would run one here): a live store has no planner statistics, and
  // plans measured on this store must be the plans a real one gets.
  db.pragma('journal_mode = WAL');
  db.close();

  return {
    devices: devices.length,
    actions: actionRows.length,
    timelineEvents: timeline.length,
    auditRecords: audit.length,
    devicesByTag,
    actionsByStatus,
    actionsByType,
    devicesByIsolationState,
    alerts: alertRows.length,
    alertsBySeverityStatus,
    machineIds: devices.map((d) => d.id),
    seconds: (performance.now() - t0) / 1000,
  };
}

// As a script: seed a directory for trying the console by hand (`cordon server --data-dir DIR`).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, devices = '1000', actions] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: node --import tsx bench/seed.ts <dataDir> [devices=1000] [actions=devices*10]\n');
    process.exit(2);
  }
  const res = await seedStore(resolve(dir), { devices: Number(devices), ...(actions ? { actions: Number(actions) } : {}) });
  const { machineIds, ...summary } = res;
  process.stdout.write(`${JSON.stringify({ ...summary, firstMachineId: machineIds[0] }, null, 2)}\n`);
}
