import type { Generated } from 'kysely';

/** Rows as stored. Times are ISO-8601 UTC text (sorts correctly on SQLite and PostgreSQL alike); JSON is text. */
export interface MachinesTable {
  id: string;
  computer_dns_name: string;
  first_seen: string;
  last_seen: string;
  os_platform: string;
  os_version: string;
  os_processor: string;
  kernel: string;
  agent_version: string;
  last_ip_address: string | null;
  last_external_ip_address: string | null;
  ip_addresses: string;
  capabilities: string;
  risk_score: Generated<string>;
  exposure_level: Generated<string>;
  isolation_state: Generated<string>;
  restriction_state: Generated<string>;
  aad_device_id: string | null;
  credential_hash: string;
  /** JSON of the agent's last IsolationReport (protocol), or null before any was reported. */
  isolation: string | null;
  /** JSON of the agent's last RestrictionReport (protocol), or null before any was reported. */
  restriction: string | null;
  enrolled_at: string;
  /** Set when an admin revoked the device credential: the agent is refused from then on. */
  credential_revoked_at: string | null;
  credential_revoked_by: string | null;
  /** When two live connections last used this device's credential at once (a copied credential), or null. */
  credential_in_use_twice_at: string | null;
  /** The machine-action types its agent can run, as `,Isolate,RefreshInventory,` (see services/readiness.ts). */
  usable_actions: Generated<string>;
}

export interface MachineTagsTable {
  machine_id: string;
  tag: string;
  /** 'user' (set through the API) or 'device' (from the agent's local config). */
  source: string;
  created_at: string;
}

export interface MachineIpsTable {
  machine_id: string;
  ip: string;
  first_seen: string;
  last_seen: string;
}

export interface ActionsTable {
  id: string;
  machine_id: string;
  type: string;
  scope: string | null;
  parameters: string;
  requestor: string;
  requestor_comment: string;
  status: string;
  created_at: string;
  updated_at: string;
  expires_at: string;
  delivered_at: string | null;
  cancellation_requestor: string | null;
  cancellation_comment: string | null;
  cancellation_at: string | null;
  error: string | null;
  error_hresult: number;
  result: string | null;
  signed_payload: string;
  signature: string;
  /** JSON array of Merkle sibling hashes when the command was signed in a batch, else null. */
  signature_proof: string | null;
  key_id: string;
  /** The catalog's exclusion key of the type: at most one active action per machine and key (unique partial index). */
  exclusive_key: string;
}

export interface TimelineTable {
  id: Generated<number>;
  machine_id: string;
  time: string;
  event_type: string;
  title: string;
  actor: string | null;
  action_id: string | null;
  data: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  time: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  comment: string | null;
  outcome: string;
  detail: string | null;
  /** Position in the audit chain (1, 2, …), the previous record's hash and this record's own. */
  seq: number;
  prev_hash: string;
  hash: string;
}

/** The audit chain's head: one row, updated with every record added. */
export interface AuditChainTable {
  id: number;
  seq: number;
  hash: string;
}

export interface TokensTable {
  id: string;
  name: string;
  role: string;
  token_hash: string;
  /** 'api' (created by an admin, no expiry) or 'access' (issued by the OAuth2 endpoint). */
  kind: string;
  app_id: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  /** Who made it (an admin's name, 'system' for the first token; null before this was recorded). */
  created_by: string | null;
  /** When it last authenticated a request, to the minute (written at most once a minute). */
  last_used_at: string | null;
}

export interface AppsTable {
  client_id: string;
  name: string;
  role: string;
  secret_hash: string;
  created_at: string;
  created_by: string | null;
  /** When it was last granted an access token or one of its access tokens was used, to the minute. */
  last_used_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

export interface EnrollmentTokensTable {
  id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  created_by: string;
  /** When a device last enrolled with it. */
  last_used_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

/** A selective-isolation policy; scope is 'global' or 'tag:<tag>'. */
export interface IsolationPoliciesTable {
  scope: string;
  /** JSON of a protocol AllowList. */
  allow: string;
  comment: string | null;
  updated_at: string;
  updated_by: string;
}

/** A record of an issued break-glass token (never the token itself). */
export interface ReleaseTokensTable {
  id: string;
  machine_id: string;
  issued_by: string;
  issued_at: string;
  expires_at: string;
  comment: string;
}

export interface PackagesTable {
  action_id: string;
  machine_id: string;
  size: number;
  sha256: string;
  created_at: string;
  expires_at: string;
  deleted_at: string | null;
}

export interface UsersTable {
  id: string;
  username: string;
  /** `scrypt$N$r$p$<salt b64>$<hash b64>` */
  password_hash: string;
  role: string;
  created_at: string;
  disabled_at: string | null;
  disabled_by: string | null;
  created_by: string | null;
  /** The last sign-in or use of a session, to the minute. */
  last_used_at: string | null;
}

export interface SessionsTable {
  /** SHA-256 of the session id in the cookie: a stolen database does not give live sessions. */
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: string;
  expires_at: string;
}

/** One published version of a piece of signed content (see ContentService). */
export interface ContentTable {
  kind: string;
  name: string;
  version: number;
  created_at: string;
  sha256: string;
  size: number;
  /** JSON of the protocol's SignedManifest, exactly as agents are sent it. */
  signed_manifest: string;
  /** The bytes' file name in the content's folder of the file store (`v<version>.bin`). */
  file: string;
}

/** A server node sharing the store; dead when `last_seen_at` went stale or it stopped. */
export interface ServerNodesTable {
  id: string;
  /** Host and API port, for people reading /api/health and the logs. */
  name: string;
  started_at: string;
  last_seen_at: string;
  stopped_at: string | null;
}

/** Which node holds each connected agent's connection (no row: not connected to any node). */
export interface AgentConnectionsTable {
  machine_id: string;
  node_id: string;
  connected_at: string;
}

/** A count in a time window (rate limits, failed sign-ins), shared by every node; times in ms. */
export interface CountersTable {
  key: string;
  count: number;
  window_ends: number;
  last_at: number;
}

/** One alert; evidence and MITRE techniques are JSON text. */
export interface AlertsTable {
  id: string;
  /** What makes a repeat of the same source event recognisable (unique). */
  source_key: string;
  machine_id: string | null;
  computer_dns_name: string | null;
  /** Lower-cased host name, for joining the alert to its device when it enrolls. */
  host_key: string | null;
  title: string;
  description: string | null;
  severity: string;
  /** 1 Informational … 4 High: orders severities and makes a device's risk. */
  severity_rank: number;
  status: string;
  classification: string | null;
  determination: string | null;
  assigned_to: string | null;
  category: string | null;
  detection_source: string;
  threat_name: string | null;
  mitre_techniques: string;
  evidence: string;
  /** How many times the source sent this event. */
  event_count: number;
  first_event_time: string;
  last_event_time: string;
  alert_creation_time: string;
  last_update_time: string;
  resolved_time: string | null;
  /** Who ingested it (a token's or user's name, or `agent`). */
  created_by: string;
}

export interface AlertCommentsTable {
  id: string;
  alert_id: string;
  time: string;
  created_by: string;
  comment: string;
}

/** An indicator of compromise (see IndicatorsService); unique by type + value. */
export interface IndicatorsTable {
  id: Generated<number>;
  indicator_type: string;
  /** As stored for matching: hashes, IP addresses and domain names in lower case. */
  indicator_value: string;
  action: string;
  severity: string;
  title: string;
  description: string | null;
  recommended_actions: string | null;
  application: string | null;
  category: string | null;
  /** JSON array of text. */
  mitre_techniques: string;
  /** JSON array of text. */
  rbac_group_names: string;
  educate_url: string | null;
  /** 1 or 0. */
  generate_alert: number;
  /** Who submitted it (MDE's `source`/`createdBy`) and whether a person or an app ('User' | 'AadApp'). */
  source: string;
  source_type: string;
  created_by: string;
  created_at: string;
  /** When it stops applying (null: never); agents drop it then, offline too. */
  expiration_time: string | null;
  last_update_time: string;
  last_updated_by: string | null;
}

export interface RulePacksTable {
  id: Generated<number>;
  name: string;
  /** 1, 2, … per name: each upload is the next. */
  version: number;
  description: string | null;
  /** The YARA source as uploaded. */
  source: string;
  sha256: string;
  size: number;
  rule_count: number;
  uploaded_by: string;
  uploaded_at: string;
  /** Set on every version of a deleted pack. */
  deleted_by: string | null;
  deleted_at: string | null;
}

export interface ScanPoliciesTable {
  /** 'global' or 'tag:<tag>'. */
  scope: string;
  cpu_percent: number;
  comment: string | null;
  updated_at: string;
  updated_by: string;
}

/** A device's quarantined file: one item of its agent's vault, as a StopAndQuarantineFile result reported it. */
export interface QuarantinedFilesTable {
  machine_id: string;
  /** The agent's id of the vault item (a UUID), unique per machine. */
  quarantine_id: string;
  file_path: string;
  sha256: string;
  sha1: string;
  /** Bytes (bigint: PostgreSQL answers it as text; read it with Number()). */
  size: number;
  quarantined_at: string;
  /** Who asked for the StopAndQuarantineFile that moved it. */
  quarantined_by: string;
  action_id: string;
  /** Set when a RestoreQuarantinedFile put it back. */
  restored_at: string | null;
  restored_by: string | null;
  restore_action_id: string | null;
}

/** A live-response library file: the version in force of one file name. */
export interface LibraryFilesTable {
  /** MDE's fileName: what `putfile` writes and `run` runs. */
  file_name: string;
  description: string | null;
  /** 1 or 0. */
  has_parameters: number;
  parameters_description: string | null;
  sha256: string;
  /** Bytes (bigint: PostgreSQL answers it as text; read it with Number()). */
  size: number;
  /** Fingerprint of the trusted key whose signature was checked at upload, or null when unsigned. */
  signed_by: string | null;
  /** The signed content (kind `script`) that carries it to devices, and the version holding these bytes. */
  content_name: string;
  content_version: number;
  created_by: string;
  creation_time: string;
  last_updated_by: string;
  last_updated_time: string;
}

/** One line typed in a live-response session (the session is its LiveResponse action). */
export interface LiveResponseCommandsTable {
  session_id: string;
  /** 1, 2, 3… per session, in the order they were typed. */
  seq: number;
  machine_id: string;
  line: string;
  /** The line's first word (`ls`), for lists and the level check's record. */
  command: string;
  issued_by: string;
  /** Running, then Succeeded (exit 0), Failed, Cancelled (130) or TimedOut (124). */
  status: string;
  exit_status: number | null;
  /** Why it failed when the failure is not the command's own (refused, device offline, session ended). */
  error: string | null;
  /** The session's working directory after the line. */
  cwd: string | null;
  /** 1 when the output went over the command's budget and was cut. */
  truncated: number;
  /** The command's structured result (JSON). */
  data: string | null;
  /** The line's signed command, as sent to the agent (any node holding it can send it). */
  signed_payload: string;
  signature: string;
  key_id: string;
  started_at: string;
  ended_at: string | null;
}

/** A chunk of what was typed in a `shell` line: keystrokes and/or a new terminal size, numbered per line from 1. */
export interface LiveResponseInputTable {
  session_id: string;
  seq: number;
  chunk: number;
  machine_id: string;
  data: string | null;
  cols: number | null;
  rows: number | null;
  /** The chunk's signed command, as sent to the agent. */
  signed_payload: string;
  signature: string;
  key_id: string;
  sent_at: string;
}

/** A chunk of a line's output, in arrival order (`id`). */
export interface LiveResponseOutputTable {
  id: Generated<number>;
  session_id: string;
  seq: number;
  text: string;
  received_at: string;
}

/** A file sent by live-response `getfile`: being uploaded, or complete and downloadable. */
/** A Tab completion's answer, between the node that took it from the agent and the node that asked. */
export interface LiveResponseCompletionsTable {
  completion_id: string;
  session_id: string;
  /** The device whose agent answered (the asker checks it is the session's). */
  machine_id: string;
  /** The answer as JSON (LiveCompletionFrame without type and ids). */
  answer: string;
  created_at: string;
}

export interface LiveResponseFilesTable {
  /** The transfer's id (the upload's). */
  id: string;
  machine_id: string;
  /** The line that sent it last (a resumed transfer moves to the line that resumed it). */
  session_id: string;
  seq: number;
  /** Its path on the device. */
  path: string;
  /** Bytes (bigint: read it with Number()). */
  size: number;
  /** Set when complete, checked against what the device computed. */
  sha256: string | null;
  /** Uploading, then Complete. */
  status: string;
  created_at: string;
  completed_at: string | null;
}

/** A device group (MDE's machine group): devices its rule matches belong to it unless a higher-ranked group takes them. */
export interface DeviceGroupsTable {
  id: Generated<number>;
  name: string;
  /** The name lower-cased: names are unique whatever their case. */
  name_key: string;
  description: string | null;
  /** 1 is the highest priority; unique. */
  rank: number;
  /** JSON of the rule (`{"tag":"prod"}`: devices carrying that tag, whatever its case). */
  rule: string;
  /** 1 when live-response `shell` is allowed on its devices. */
  live_response_shell: number;
  created_by: string;
  created_at: string;
  updated_by: string;
  updated_at: string;
}

export interface Database {
  machines: MachinesTable;
  machine_tags: MachineTagsTable;
  machine_ips: MachineIpsTable;
  actions: ActionsTable;
  timeline: TimelineTable;
  audit_log: AuditTable;
  audit_chain: AuditChainTable;
  tokens: TokensTable;
  apps: AppsTable;
  enrollment_tokens: EnrollmentTokensTable;
  packages: PackagesTable;
  users: UsersTable;
  sessions: SessionsTable;
  isolation_policies: IsolationPoliciesTable;
  release_tokens: ReleaseTokensTable;
  content: ContentTable;
  server_nodes: ServerNodesTable;
  agent_connections: AgentConnectionsTable;
  counters: CountersTable;
  alerts: AlertsTable;
  alert_comments: AlertCommentsTable;
  indicators: IndicatorsTable;
  rule_packs: RulePacksTable;
  scan_policies: ScanPoliciesTable;
  quarantined_files: QuarantinedFilesTable;
  library_files: LibraryFilesTable;
  live_response_commands: LiveResponseCommandsTable;
  live_response_output: LiveResponseOutputTable;
  live_response_input: LiveResponseInputTable;
  live_response_files: LiveResponseFilesTable;
  live_response_completions: LiveResponseCompletionsTable;
  device_groups: DeviceGroupsTable;
}
