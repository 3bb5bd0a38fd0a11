import { z } from 'zod';
import { ACTION_STATUSES, ACTION_TYPES, INDICATOR_ACTIONS, INDICATOR_SEVERITIES, INDICATOR_TYPES, AllowEntry as ProtocolAllowEntry, Capability as ProtocolCapability, IsolationReport as ProtocolIsolationReport, RestrictionReport as ProtocolRestrictionReport } from '@cordon/protocol';
import { PERMISSIONS, ROLES, type Permission } from '../auth/permissions.js';
import type { CordonEvent } from '../events.js';

/**
 * The public API's answers, in one place. Routes declare them as response schemas (the serializer
 * checks every answer against them, and the OpenAPI document describes them), services build
 * values of the types inferred here, and `@cordon/api-client` is generated from the document.
 * An `id` in `.meta()` makes a schema a named OpenAPI component (`components['schemas']['Machine']`).
 *
 * Objects strip keys they do not list: a field a service adds is not served until it is added
 * here, where the type-checker sends you (the service's view type comes from this file).
 */

/**
 * A text field the API documents as one of `values`. Values read from the store are not refused
 * at serialization: a value written by a newer server must not turn every read into a 500.
 */
const oneOf = (values: readonly string[], description?: string) => z.string().meta({ enum: [...values], ...(description ? { description } : {}) });

const isoTime = (description?: string) => z.string().meta({ format: 'date-time', ...(description ? { description } : {}) });

/** An OData list: `{"@odata.context": "...", "value": [...]}`. */
const odataList = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ '@odata.context': z.string(), '@odata.count': z.number().int().optional().meta({ description: 'How many match in all (with $count=true)' }), value: z.array(item) }).meta({ id });

/** Every error answer: `{"error": {"code", "message", "target"?}}`, as MDE answers. */
export const ApiErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'e.g. InvalidRequestBody, ResourceNotFound, ActiveRequestAlreadyExists, NotSupported' }),
      message: z.string().meta({ description: 'What is wrong and how to fix it' }),
      target: z.string().optional().meta({ description: 'The field or id the error is about' }),
      details: z
        .array(z.object({ code: z.string(), message: z.string(), target: z.string().optional() }))
        .optional()
        .meta({ description: 'Every problem found, when there are several (a rule pack\'s compiler errors: target `source:<line>:<column>`)' }),
    }),
  })
  .meta({ id: 'ApiError' });

/** The response schemas of a route: its success answers, and the error body for every failure. */
export const answers = <T extends Record<number, z.ZodType>>(success: T) => ({ ...success, '4xx': ApiErrorBody, '5xx': ApiErrorBody });

/** A 204 answer: no body. */
export const NoContent = z.undefined().meta({ description: 'No content' });

// --- machines --------------------------------------------------------------------------------

export const Capability = ProtocolCapability.meta({ id: 'Capability' });
export const IsolationReport = ProtocolIsolationReport.meta({ id: 'IsolationReport' });
export const RestrictionReport = ProtocolRestrictionReport.meta({ id: 'RestrictionReport' });

export const Machine = z
  .object({
    id: z.string().meta({ description: '40 lowercase hex characters' }),
    computerDnsName: z.string(),
    firstSeen: isoTime(),
    lastSeen: isoTime(),
    osPlatform: z.string(),
    osVersion: z.string(),
    osProcessor: z.string(),
    kernel: z.string(),
    agentVersion: z.string(),
    lastIpAddress: z.string().nullable(),
    lastExternalIpAddress: z.string().nullable(),
    ipAddresses: z.array(z.object({ ipAddress: z.string(), macAddress: z.string().nullable(), type: z.string(), interface: z.string() })),
    healthStatus: z.enum(['Active', 'Inactive']),
    riskScore: oneOf(['None', 'Informational', 'Low', 'Medium', 'High']),
    exposureLevel: oneOf(['None', 'Low', 'Medium', 'High']),
    machineTags: z.array(z.string()),
    machineTagDetails: z
      .array(z.object({ tag: z.string(), source: oneOf(['user', 'device']) }))
      .meta({ description: "Cordon: each tag with where it comes from ('user' through the API, 'device' from the agent's config)" }),
    isolationState: oneOf(['NotIsolated', 'Isolated', 'Pending']),
    isolation: IsolationReport.nullable().meta({ description: "Cordon: the agent's last isolation report (state, type, since, how it was last released), or null" }),
    restrictionState: oneOf(['Unrestricted', 'Restricted', 'Pending']),
    restriction: RestrictionReport.nullable().meta({
      description: "Cordon: the agent's last app-restriction report (state, since when, the exec guard's health and last error, what it trusts), or null",
    }),
    capabilities: z.array(Capability).meta({ description: 'What the agent can do, with versions; `unavailable` says what the device lacks, `provider` what implements it' }),
    usableActions: z.array(z.string()).meta({ description: "Cordon: the machine-action types this device's agent can run now (its version and capabilities allow them and the device has what they need); filter with usableActions/any(a: a eq 'Isolate')" }),
    unusableActions: z
      .array(z.object({ action: z.string(), reason: z.string().meta({ description: "Why not, as people say it (e.g. \"Isolate device: not available on web-01: nft is not installed\")" }) }))
      .meta({ description: "Cordon: the other machine-action types, each with why this device cannot take it; filter with unusableActions/any(a: a eq 'Isolate')" }),
    aadDeviceId: z.string().nullable(),
    isConnected: z.boolean().meta({ description: 'Cordon: whether the agent holds an open connection right now' }),
    credentialRevokedAt: isoTime().nullable().meta({ description: "Cordon: when an admin revoked the device's credential (its agent is refused from then on; re-enroll it), or null" }),
    credentialRevokedBy: z.string().nullable().meta({ description: 'Cordon: who revoked it' }),
    credentialInUseTwiceAt: isoTime().nullable().meta({ description: "Cordon: when a second agent last tried to connect with this device's credential while the first was connected (a copied credential: the second was refused; revoke the credential and re-enroll), or null" }),
    rbacGroupId: z.number().int().nullable().meta({ description: 'The device group it belongs to (the highest-ranked group whose rule matches its tags), or null: Ungrouped devices' }),
    rbacGroupName: z.string().nullable().meta({ description: 'That group\'s name, or null: Ungrouped devices' }),
  })
  .meta({ id: 'Machine' });
export type MachineView = z.infer<typeof Machine>;
export const MachineList = odataList(Machine, 'MachineList');

// --- device groups ---------------------------------------------------------------------------

export const DeviceGroupRule = z
  .object({ tag: z.string().meta({ description: 'Devices carrying this tag (set through the API), exact but whatever its case' }) })
  .meta({ id: 'DeviceGroupRule', description: 'Which devices the group takes' });

export const DeviceGroup = z
  .object({
    id: z.number().int(),
    name: z.string(),
    description: z.string().nullable(),
    rank: z.number().int().meta({ description: '1 is the highest priority: a device belongs to the highest-ranked group whose rule matches it' }),
    rule: DeviceGroupRule,
    liveResponseShell: z.boolean().meta({ description: "Live response's `shell` is allowed on the group's devices (never on ungrouped ones)" }),
    createdBy: z.string(),
    createdAt: isoTime(),
    updatedBy: z.string(),
    updatedAt: isoTime(),
  })
  .meta({ id: 'DeviceGroup' });
export type DeviceGroupView = z.infer<typeof DeviceGroup>;
export const DeviceGroupList = odataList(DeviceGroup, 'DeviceGroupList');

export const TIMELINE_EVENT_TYPES = [
  'ActionSubmitted',
  'ActionStateChanged',
  'AgentOnline',
  'AgentOffline',
  'AgentEnrolled',
  'TagAdded',
  'TagRemoved',
  'CommandRefused',
  'InventoryChanged',
  'IsolationReleasedOnDevice',
  'ReleaseTokenIssued',
  'PackageAvailable',
  'CredentialRevoked',
  'CredentialInUseTwice',
  'AlertRaised',
  'AlertUpdated',
  'RestrictionGuardFailed',
] as const;

export const TimelineEvent = z
  .object({
    id: z.number(),
    machineId: z.string(),
    time: isoTime(),
    eventType: oneOf(TIMELINE_EVENT_TYPES),
    title: z.string(),
    actor: z.string().nullable(),
    actionId: z.string().nullable(),
    actionComment: z.string().nullable().meta({ description: "Cordon: the comment the action was submitted with, on each event of an action (null on other events)" }),
    data: z.unknown().meta({ description: 'Event-specific details, or null' }),
  })
  .meta({ id: 'TimelineEvent' });
export type TimelineEventView = z.infer<typeof TimelineEvent>;
export const TimelineEventList = odataList(TimelineEvent, 'TimelineEventList');

// --- alerts ----------------------------------------------------------------------------------

export const AlertEvidenceView = z
  .object({
    entityType: oneOf(['File', 'Process', 'Ip', 'Url', 'User']),
    evidenceCreationTime: isoTime(),
    filePath: z.string().nullable(),
    fileName: z.string().nullable(),
    sha1: z.string().nullable(),
    sha256: z.string().nullable(),
    md5: z.string().nullable(),
    processId: z.number().nullable(),
    processCommandLine: z.string().nullable(),
    processCreationTime: isoTime().nullable(),
    parentProcessId: z.number().nullable(),
    parentProcessFilePath: z.string().nullable(),
    accountName: z.string().nullable(),
    ipAddress: z.string().nullable(),
    port: z.number().nullable().meta({ description: 'Cordon: the remote port of a network entity' }),
    domain: z.string().nullable().meta({ description: 'Cordon: the remote host name of a network entity' }),
    url: z.string().nullable(),
    detectionStatus: oneOf(['Detected', 'Blocked', 'Prevented']).nullable(),
  })
  .meta({ id: 'AlertEvidence' });

export const AlertComment = z.object({ comment: z.string(), createdBy: z.string(), createdTime: isoTime() }).meta({ id: 'AlertComment' });

export const Alert = z
  .object({
    id: z.string(),
    incidentId: z.string().nullable().meta({ description: 'Cordon does not group alerts into incidents yet: null' }),
    investigationId: z.string().nullable(),
    assignedTo: z.string().nullable(),
    severity: oneOf(['Informational', 'Low', 'Medium', 'High']),
    status: oneOf(['New', 'InProgress', 'Resolved']),
    classification: z.string().nullable(),
    determination: z.string().nullable(),
    detectionSource: z.string().meta({ description: 'What raised it: Falco, Custom (an ingested alert), Antivirus, ExecutionControl, Indicator, …' }),
    category: z.string().nullable(),
    threatName: z.string().nullable(),
    threatFamilyName: z.string().nullable(),
    title: z.string().meta({ description: 'Stored as sent: render it as text, never as HTML' }),
    description: z.string().nullable(),
    alertCreationTime: isoTime(),
    firstEventTime: isoTime(),
    lastEventTime: isoTime(),
    lastUpdateTime: isoTime(),
    resolvedTime: isoTime().nullable(),
    machineId: z.string().nullable().meta({ description: 'null while the host it names has not enrolled (it is joined when it does)' }),
    computerDnsName: z.string().nullable(),
    rbacGroupName: z.string().nullable(),
    mitreTechniques: z.array(z.string()),
    eventCount: z.number().int().meta({ description: 'Cordon: how many times the source sent this event (a repeat is counted, not a new alert)' }),
    createdBy: z.string().meta({ description: 'Cordon: who sent it (a token name, or agent)' }),
    comments: z.array(AlertComment),
    evidence: z.array(AlertEvidenceView),
  })
  .meta({ id: 'Alert' });
export type AlertView = z.infer<typeof Alert>;
export const AlertList = odataList(Alert, 'AlertList');

/** Each alert of an ingested batch, in the order sent: its id, whether it is new, and its count. */
export const AlertBatchResults = z
  .object({
    value: z.array(
      z.object({
        id: z.string(),
        created: z.boolean().meta({ description: 'false: the same source event was sent before, and counted on this alert' }),
        eventCount: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'AlertBatchResults' });

// --- machine actions -------------------------------------------------------------------------

export const MachineAction = z
  .object({
    id: z.string().meta({ description: 'A UUID' }),
    type: oneOf(ACTION_TYPES),
    scope: z.string().nullable().meta({ description: 'Full or Selective for isolation, Quick or Full for scans' }),
    requestor: z.string(),
    requestorComment: z.string(),
    status: oneOf(ACTION_STATUSES),
    machineId: z.string(),
    computerDnsName: z.string(),
    creationDateTimeUtc: isoTime(),
    lastUpdateDateTimeUtc: isoTime(),
    cancellationRequestor: z.string().nullable(),
    cancellationComment: z.string().nullable(),
    cancellationDateTimeUtc: isoTime().nullable(),
    errorHResult: z.number().meta({ description: '0 on success' }),
    commands: z.array(z.unknown()),
    error: z.string().nullable().meta({ description: 'Cordon: why the action failed, as a sentence' }),
    result: z.record(z.string(), z.unknown()).nullable().meta({ description: "Cordon: an action-specific summary (e.g. a scan's counts; each of its detections carries the alertId of its alert once the server has it)" }),
    parameters: z.record(z.string(), z.unknown()).meta({ description: 'Cordon: the parameters sent to the agent' }),
    expirationDateTimeUtc: isoTime('Cordon: when the command expires'),
    progress: z
      .object({ percent: z.number(), message: z.string().nullable(), at: isoTime() })
      .optional()
      .meta({ description: "Cordon: the agent's latest progress while the action runs" }),
    stateChanges: z
      .array(
        z.object({
          status: oneOf(ACTION_STATUSES),
          time: isoTime(),
          actor: z.string().nullable().meta({ description: 'Who made the change: a user or app for submission and cancellation, null when the device or the server did' }),
          title: z.string().meta({ description: 'What happened, as the device timeline says it' }),
          comment: z.string().nullable().meta({ description: "The submitter's or the canceller's comment, or null" }),
        }),
      )
      .optional()
      .meta({ description: 'Cordon: every state change, oldest first (Pending when submitted, then each change): single-action reads only' }),
  })
  .meta({ id: 'MachineAction' });
export type MachineActionView = z.infer<typeof MachineAction>;
export const MachineActionList = odataList(MachineAction, 'MachineActionList');

export const BulkSubmitResult = z
  .object({
    value: z.array(MachineAction),
    skipped: z.array(z.object({ machineId: z.string(), code: z.string(), message: z.string() })).meta({ description: 'Machines that could not take the action, each with the error a single submission would have given' }),
  })
  .meta({ id: 'BulkSubmitResult' });

// --- investigation packages ------------------------------------------------------------------

export const PackageInfo = z
  .object({
    actionId: z.string(),
    machineId: z.string(),
    size: z.number(),
    sha256: z.string(),
    createdAt: isoTime(),
    expiresAt: isoTime(),
    available: z.boolean().meta({ description: 'False once retention removed the file' }),
  })
  .meta({ id: 'PackageInfo' });
export type PackageView = z.infer<typeof PackageInfo>;
export const PackageInfoList = odataList(PackageInfo, 'PackageInfoList');

export const PackageUri = z.object({ value: z.string().meta({ description: 'A short-lived download URL that needs no token' }), expiresAt: isoTime() }).meta({ id: 'PackageUri' });
export const LiveResponseResultLink = z.object({ value: z.string().meta({ description: "A short-lived URL of the command's result (RunScript: MDE's JSON {script_name, exit_code, script_output, script_errors}; GetFile: the file) that needs no token" }), expiresAt: isoTime() }).meta({ id: 'LiveResponseResultLink' });

// --- isolation -------------------------------------------------------------------------------

export const AllowEntry = ProtocolAllowEntry.meta({ id: 'AllowEntry' });

const from = { from: z.array(z.string()).meta({ description: "The policies it comes from ('global', 'tag:prod')" }) };
const [destinationEntry, programEntry, unitEntry] = ProtocolAllowEntry.options;
/** An entry of a machine's effective allow list, with the policies it comes from. */
export const EffectiveAllowEntry = z.union([destinationEntry.extend(from), programEntry.extend(from), unitEntry.extend(from)]).meta({ id: 'EffectiveAllowEntry' });

export const IsolationPolicy = z
  .object({
    scope: z.enum(['global', 'tag']),
    tag: z.string().nullable().meta({ description: "The tag of a 'tag' policy" }),
    allow: z.array(AllowEntry),
    comment: z.string().nullable(),
    updatedAt: isoTime().nullable(),
    updatedBy: z.string().nullable(),
  })
  .meta({ id: 'IsolationPolicy' });
export type IsolationPolicyView = z.infer<typeof IsolationPolicy>;
export const IsolationPolicyList = odataList(IsolationPolicy, 'IsolationPolicyList');

export const ScanPolicy = z
  .object({
    scope: z.enum(['global', 'tag']),
    tag: z.string().nullable().meta({ description: "The tag of a 'tag' policy" }),
    cpuPercent: z.number().int().meta({ description: "Share of a device's CPU a scan may use when the analyst gives none (a device's tags' lowest, else global, else 50)" }),
    comment: z.string().nullable(),
    updatedAt: isoTime(),
    updatedBy: z.string(),
  })
  .meta({ id: 'ScanPolicy' });
export type ScanPolicyView = z.infer<typeof ScanPolicy>;
export const ScanPolicyList = odataList(ScanPolicy, 'ScanPolicyList');

export const EffectiveIsolationPolicy = z
  .object({
    machineId: z.string(),
    computerDnsName: z.string(),
    policies: z.array(z.string()).meta({ description: "The scopes that apply to this machine and exist ('global', 'tag:<tag>'), in the order merged" }),
    allow: z.array(EffectiveAllowEntry),
  })
  .meta({ id: 'EffectiveIsolationPolicy' });
export type EffectivePolicyView = z.infer<typeof EffectiveIsolationPolicy>;

export const ReleaseToken = z
  .object({
    token: z.string(),
    tokenId: z.string(),
    machineId: z.string(),
    computerDnsName: z.string(),
    expiresAt: isoTime(),
    isolatedSince: isoTime().nullable().meta({ description: 'The isolation this token releases (null: whichever is in force when it is used)' }),
  })
  .meta({ id: 'ReleaseToken' });
export type IssuedReleaseToken = z.infer<typeof ReleaseToken>;

// --- indicators ------------------------------------------------------------------------------

export const INDICATOR_ENFORCEMENTS = ['Block', 'AlertOnly', 'None'] as const;

export const Indicator = z
  .object({
    id: z.string().meta({ description: 'A number, as text (as MDE answers)' }),
    indicatorValue: z.string().meta({ description: 'Hashes, IP addresses and domain names in lower case' }),
    indicatorType: oneOf(INDICATOR_TYPES),
    action: oneOf(INDICATOR_ACTIONS),
    application: z.string().nullable(),
    source: z.string().meta({ description: 'Who submitted it' }),
    sourceType: oneOf(['User', 'AadApp'], "'AadApp' when an app registration submitted it"),
    createdBySource: z.string(),
    createdBy: z.string(),
    title: z.string(),
    description: z.string().nullable(),
    recommendedActions: z.string().nullable(),
    severity: oneOf(INDICATOR_SEVERITIES),
    category: z.string().nullable(),
    mitreTechniques: z.array(z.string()),
    rbacGroupNames: z.array(z.string()),
    rbacGroupIds: z.array(z.string()).meta({ description: 'Always empty: indicators are not scoped by device group yet; every indicator applies to every device' }),
    educateUrl: z.string().nullable(),
    generateAlert: z.boolean(),
    creationTimeDateTimeUtc: isoTime(),
    expirationTime: isoTime().nullable().meta({ description: 'When it stops applying (null: never); agents drop it then, offline too' }),
    lastUpdateTime: isoTime(),
    lastUpdatedBy: z.string().nullable(),
    isExpired: z.boolean().meta({ description: 'Cordon: its expiration time has passed (agents no longer apply it; delete it or submit it again with a later one)' }),
    enforcement: oneOf(INDICATOR_ENFORCEMENTS, "Cordon: what Linux agents do with it: 'Block' (enforced), 'AlertOnly' (seen and reported, never blocked) or 'None' (Allowed)"),
    enforcementNote: z.string().meta({ description: 'Cordon: the same as a sentence, e.g. why a domain block is alert-only on Linux' }),
  })
  .meta({ id: 'Indicator' });
export type IndicatorView = z.infer<typeof Indicator>;
export const IndicatorList = odataList(Indicator, 'IndicatorList');

export const IndicatorImportResult = z
  .object({
    value: z.array(
      z.object({
        id: z.string(),
        indicator: z.string().meta({ description: 'The indicator value, as stored' }),
        isFailed: z.boolean().meta({ description: 'Always false: an import with any bad item is refused whole (400 naming the item and field) and changes nothing' }),
        failureReason: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'IndicatorImportResult' });
export type IndicatorImportView = z.infer<typeof IndicatorImportResult>;

// --- quarantine ------------------------------------------------------------------------------

export const QUARANTINE_STATES = ['Quarantined', 'Restored'] as const;
export const QuarantinedFile = z
  .object({
    quarantineId: z.string().meta({ description: "The vault item's id on the device (a UUID): what RestoreQuarantinedFile takes" }),
    machineId: z.string(),
    fileName: z.string(),
    filePath: z.string().meta({ description: 'Where the file was, and where a restore puts it back' }),
    sha256: z.string(),
    sha1: z.string(),
    size: z.number().int().meta({ description: 'Bytes' }),
    quarantinedAt: isoTime(),
    quarantinedBy: z.string().meta({ description: 'Who asked for the StopAndQuarantineFile that moved it' }),
    actionId: z.string().meta({ description: 'That StopAndQuarantineFile action' }),
    restoredAt: isoTime().nullable(),
    restoredBy: z.string().nullable(),
    restoreActionId: z.string().nullable(),
    state: oneOf(QUARANTINE_STATES),
  })
  .meta({ id: 'QuarantinedFile' });
export type QuarantinedFileView = z.infer<typeof QuarantinedFile>;
export const QuarantinedFileList = odataList(QuarantinedFile, 'QuarantinedFileList');

// --- rule packs ------------------------------------------------------------------------------

export const RulePack = z
  .object({
    name: z.string(),
    version: z.number().int().nullable().meta({ description: 'Grows with every upload of the name; null for the built-in pack' }),
    description: z.string().nullable(),
    sha256: z.string(),
    size: z.number().int().meta({ description: 'Bytes of YARA source' }),
    ruleCount: z.number().int(),
    uploadedBy: z.string().nullable(),
    uploadedAt: z.string().nullable(),
    builtIn: z.boolean().meta({ description: 'Cordon\'s own pack, in every agent; it cannot be replaced or deleted' }),
  })
  .meta({ id: 'RulePack' });
export type RulePackView = z.infer<typeof RulePack>;
export const RulePackList = z.object({ value: z.array(RulePack) }).meta({ id: 'RulePackList' });
export const RulePackDetail = RulePack.extend({
  source: z.string().meta({ description: 'The YARA source of the version in force' }),
  versions: z.array(
    z.object({
      version: z.number().int(),
      sha256: z.string(),
      size: z.number().int(),
      ruleCount: z.number().int(),
      uploadedBy: z.string(),
      uploadedAt: z.string(),
      deletedBy: z.string().nullable(),
      deletedAt: z.string().nullable(),
    }),
  ),
}).meta({ id: 'RulePackDetail' });
export type RulePackDetailView = z.infer<typeof RulePackDetail>;

// --- live-response library ------------------------------------------------------------------

export const LibraryFile = z
  .object({
    fileName: z.string(),
    description: z.string().nullable(),
    sha256: z.string(),
    size: z.number().int().meta({ description: 'Cordon: bytes' }),
    creationTime: isoTime(),
    createdBy: z.string(),
    lastUpdatedTime: isoTime(),
    lastUpdatedBy: z.string().meta({ description: 'Cordon: who uploaded the version in force' }),
    hasParameters: z.boolean(),
    parametersDescription: z.string().nullable(),
    signedBy: z.string().nullable().meta({ description: 'Cordon: fingerprint (first 16 hex of the SHA-256 of its SPKI DER) of the trusted key whose signature was checked at upload; null when unsigned' }),
    contentName: z.string().meta({ description: 'Cordon: the signed content (kind script) that carries it to devices' }),
    contentVersion: z.number().int().meta({ description: "Cordon: that content's version holding these bytes" }),
  })
  .meta({ id: 'LibraryFile' });
export type LibraryFileView = z.infer<typeof LibraryFile>;
export const LibraryFileList = odataList(LibraryFile, 'LibraryFileList');

// --- live-response sessions -----------------------------------------------------------------

export const LiveSession = z
  .object({
    id: z.string().meta({ description: 'The session, which is also its LiveResponse machine action' }),
    machineId: z.string(),
    computerDnsName: z.string(),
    openedBy: z.string().meta({ description: 'Who opened it: the only one who types in it' }),
    comment: z.string(),
    level: z.enum(['basic', 'advanced']).meta({ description: 'basic: read-only commands; advanced (opened by a responder or admin): putfile, run, remediate, undo too' }),
    state: z.enum(['Queued', 'Active', 'Ended']).meta({ description: 'Queued: waiting for the device to connect; Active: open on the device; Ended' }),
    status: z.string().meta({ description: "Its action's status" }),
    endReason: z.string().nullable(),
    createdAt: isoTime(),
    lastUpdateAt: isoTime(),
    expiresAt: isoTime('When it ends if nothing happens: the queue limit while Queued, the idle time-out while Active'),
    commands: z.number().int(),
  })
  .meta({ id: 'LiveSession' });
export const LiveSessionList = odataList(LiveSession, 'LiveSessionList');

export const LiveCommand = z
  .object({
    sessionId: z.string(),
    seq: z.number().int().meta({ description: 'The line number in its session (1, 2, 3…)' }),
    line: z.string(),
    command: z.string(),
    issuedBy: z.string(),
    status: z.enum(['Running', 'Succeeded', 'Failed', 'Cancelled', 'TimedOut']),
    exitStatus: z.number().int().nullable().meta({ description: 'As a shell: 0 ok, 2 usage, 124 timed out, 126 refused, 127 unknown command, 130 cancelled' }),
    error: z.string().nullable(),
    cwd: z.string().nullable().meta({ description: 'The working directory after the line' }),
    truncated: z.boolean(),
    data: z.unknown().meta({ description: "The command's result in structured form, when it has one" }),
    startedAt: isoTime(),
    endedAt: isoTime().nullable(),
  })
  .meta({ id: 'LiveCommand' });

export const LiveCompletion = z
  .object({
    base: z.string().meta({ description: 'The word typed, up to and including its last /: each name follows it' }),
    entries: z
      .array(z.object({ name: z.string(), type: z.enum(['dir', 'file', 'link', 'other']).meta({ description: 'dir also for a link root controls that leads to a directory' }) }))
      .meta({ description: 'Names in that directory starting with what follows the last /, in byte order, at most 200' }),
    truncated: z.boolean().meta({ description: 'More names matched than are listed' }),
    error: z.string().nullable().meta({ description: 'Why there is nothing to complete (no such directory, not a directory…), or null' }),
  })
  .meta({ id: 'LiveCompletion' });

export const LiveFile = z
  .object({
    id: z.string().meta({ description: "The transfer's id" }),
    sessionId: z.string(),
    seq: z.number().int().meta({ description: 'The getfile line that sent it (the last one, when resumed)' }),
    machineId: z.string(),
    path: z.string().meta({ description: 'Its path on the device' }),
    size: z.number().int(),
    sha256: z.string().nullable().meta({ description: 'Checked against what the device computed; null while it is being sent' }),
    status: z.enum(['Uploading', 'Complete']),
    createdAt: isoTime(),
    completedAt: isoTime().nullable(),
  })
  .meta({ id: 'LiveFile' });
export const LiveFileList = odataList(LiveFile, 'LiveFileList');

export const LiveInputChunk = z
  .object({
    chunk: z.number().int().meta({ description: "The chunk's number in its line (1, 2, 3…), the order the device types them in" }),
    data: z.string().nullable().meta({ description: 'The keystrokes, as the terminal sent them' }),
    cols: z.number().int().nullable(),
    rows: z.number().int().nullable(),
    sentAt: z.string(),
  })
  .meta({ id: 'LiveInputChunk', description: "What was typed in a shell, chunk by chunk (keystrokes, and the terminal's size when it changed)" });

export const LiveInputAccepted = z.object({ sessionId: z.string(), seq: z.number().int(), chunk: z.number().int() }).meta({ id: 'LiveInputAccepted', description: 'The input chunk, stored and sent to the device' });

export const LiveTranscript = z
  .object({ session: LiveSession, commands: z.array(LiveCommand.extend({ output: z.string(), input: z.array(LiveInputChunk).meta({ description: 'For a shell: what was typed in it (empty for other lines)' }) })) })
  .meta({ id: 'LiveTranscript', description: 'Everything typed in a session and everything the device answered' });

// --- sign-in, tokens, administration ---------------------------------------------------------

const Role = z.enum(ROLES);

export const Me = z
  .object({
    name: z.string(),
    role: Role,
    permissions: z.array(z.enum(Object.keys(PERMISSIONS) as [Permission, ...Permission[]])).meta({ description: 'What this role may do (the API checks again on every call)' }),
    csrfToken: z.string().nullable().meta({ description: "The session's CSRF token (null for a bearer token)" }),
  })
  .meta({ id: 'Me' });

/** A choice taken with an action (Full or Selective isolation, Quick or Full scan). */
export const ActionOptionInfo = z
  .object({
    field: z.string().meta({ description: 'The body field that carries the choice' }),
    label: z.string(),
    values: z.array(z.string()),
    default: z.string(),
    item: z.string().meta({ description: "The choice as a menu item says it; '{value}' stands for the value" }),
    describe: z.record(z.string(), z.string()).meta({ description: "What each value does; '{device}' stands for the device's name" }),
  })
  .meta({ id: 'ActionOption' });

/** An optional number taken with an action besides its option (a scan's CPU share). */
export const ActionExtraInfo = z
  .object({
    field: z.string().meta({ description: 'The body field that carries it' }),
    label: z.string(),
    describe: z.string().meta({ description: 'What it does, and what leaving it out means' }),
    min: z.number(),
    max: z.number(),
  })
  .meta({ id: 'ActionExtra' });

/** A machine-action type of the catalog, as clients show and submit it. */
export const ActionTypeInfo = z
  .object({
    type: z.string(),
    label: z.string().meta({ description: 'The action as people name it' }),
    path: z.string().meta({ description: 'Where to submit it, e.g. /api/machines/{id}/isolate' }),
    option: ActionOptionInfo.nullable(),
    extras: z.array(ActionExtraInfo).meta({ description: 'Optional numbers it takes besides its option; left out, the device applies its default' }),
    describe: z.string().nullable().meta({ description: "What taking it does; '{device}' stands for the device's name" }),
    destructive: z.boolean().meta({ description: 'It cuts something off: ask with care' }),
    cancelWhileRunning: z.boolean().meta({ description: 'It can be cancelled while it runs (a scan), not only while it is Pending' }),
    icon: z.string().nullable().meta({ description: 'A Tabler icon name' }),
    barPosition: z.number().nullable().meta({ description: "Its place on the device page's action bar (a response action), or null when it is not on it" }),
  })
  .meta({ id: 'ActionType' });
export type ActionTypeInfo = z.infer<typeof ActionTypeInfo>;
export const ActionTypeList = z.object({ value: z.array(ActionTypeInfo) }).meta({ id: 'ActionTypeList' });

/** One entry of the device page's action bar: a machine action (with its type's details) or another response (tags…). */
export const ResponseActionAvailability = z
  .object({
    action: z.string().meta({ description: 'A machine-action type, or ManageTags, AutomatedInvestigation, LiveResponse, ConsultThreatExpert' }),
    label: z.string(),
    available: z.boolean(),
    reason: z.string().nullable().meta({ description: 'Why the action cannot be taken now (null when it can)' }),
    path: z.string().nullable().meta({ description: 'Where to submit it (null for entries that are not machine actions)' }),
    option: ActionOptionInfo.nullable(),
    extras: z.array(ActionExtraInfo),
    describe: z.string().nullable(),
    destructive: z.boolean(),
    cancelWhileRunning: z.boolean(),
    icon: z.string().nullable(),
    undoes: z.string().nullable().meta({ description: 'The action this one undoes (Unisolate: Isolate), shown in its place while the device is in the state it established; null for others' }),
  })
  .meta({ id: 'ResponseActionAvailability' });
export type ResponseActionAvailability = z.infer<typeof ResponseActionAvailability>;
export const ResponseActionList = z.object({ machineId: z.string(), value: z.array(ResponseActionAvailability) }).meta({ id: 'ResponseActionList' });

export const SignInResult = z
  .object({ user: z.object({ name: z.string(), role: Role }), csrfToken: z.string().meta({ description: 'Send it as x-csrf-token with every change' }), expiresAt: isoTime() })
  .meta({ id: 'SignInResult' });

export const AccessToken = z
  .object({ token_type: z.literal('Bearer'), expires_in: z.number(), ext_expires_in: z.number(), access_token: z.string() })
  .meta({ id: 'AccessToken' });

export const CreatedToken = z.object({ id: z.string().meta({ description: 'Revoke it with DELETE /api/tokens/{id}' }), token: z.string(), role: Role }).meta({ id: 'CreatedToken' });
export const CreatedApp = z.object({ clientId: z.string(), clientSecret: z.string(), role: Role }).meta({ id: 'CreatedApp' });
export const EnrollmentToken = z.object({ id: z.string().meta({ description: 'Revoke it with DELETE /api/enrollmentTokens/{id}' }), token: z.string(), expiresAt: isoTime() }).meta({ id: 'EnrollmentToken' });

// Credentials as listed: never a secret or its hash.
const createdBy = z.string().nullable().meta({ description: 'Who made it (null when made before this was recorded)' });
const lastUsedAt = isoTime('When it was last used, to the minute').nullable();
const revokedAt = isoTime().nullable();
const revokedBy = z.string().nullable();

export const TokenInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    role: oneOf(ROLES),
    kind: oneOf(['api', 'access'], "'api': made by an admin, no expiry; 'access': issued to an app by the OAuth2 endpoint"),
    appId: z.string().nullable().meta({ description: "The app's clientId, for an access token" }),
    createdAt: isoTime(),
    createdBy,
    lastUsedAt,
    expiresAt: isoTime().nullable(),
    revokedAt,
    revokedBy,
  })
  .meta({ id: 'TokenInfo' });
export type TokenView = z.infer<typeof TokenInfo>;
export const TokenList = z.object({ value: z.array(TokenInfo) }).meta({ id: 'TokenList' });

export const AppInfo = z
  .object({ clientId: z.string(), name: z.string(), role: oneOf(ROLES), createdAt: isoTime(), createdBy, lastUsedAt, revokedAt, revokedBy })
  .meta({ id: 'AppInfo' });
export type AppView = z.infer<typeof AppInfo>;
export const AppList = z.object({ value: z.array(AppInfo) }).meta({ id: 'AppList' });

export const UserInfo = z
  .object({
    id: z.string(),
    username: z.string(),
    role: oneOf(ROLES),
    createdAt: isoTime(),
    createdBy,
    lastUsedAt: isoTime('The last sign-in or use of a session, to the minute').nullable(),
    disabledAt: isoTime().nullable(),
    disabledBy: z.string().nullable(),
  })
  .meta({ id: 'UserInfo' });
export type UserView = z.infer<typeof UserInfo>;
export const UserList = z.object({ value: z.array(UserInfo) }).meta({ id: 'UserList' });

export const EnrollmentTokenInfo = z
  .object({ id: z.string(), createdAt: isoTime(), createdBy: z.string(), expiresAt: isoTime(), lastUsedAt: isoTime('When a device last enrolled with it').nullable(), revokedAt, revokedBy })
  .meta({ id: 'EnrollmentTokenInfo' });
export type EnrollmentTokenView = z.infer<typeof EnrollmentTokenInfo>;
export const EnrollmentTokenList = z.object({ value: z.array(EnrollmentTokenInfo) }).meta({ id: 'EnrollmentTokenList' });

export const AuditRecord = z
  .object({
    id: z.number(),
    time: isoTime(),
    actor: z.string(),
    action: z.string(),
    targetType: z.string(),
    targetId: z.string().nullable(),
    comment: z.string().nullable(),
    outcome: oneOf(['Succeeded', 'Failed', 'Refused']),
    detail: z.unknown(),
    /** Position in the tamper-evident chain and the record's hash (see `GET /api/audit/verify`). */
    seq: z.number(),
    hash: z.string(),
  })
  .meta({ id: 'AuditRecord' });
export type AuditRecordView = z.infer<typeof AuditRecord>;
export const AuditList = z.object({ value: z.array(AuditRecord) }).meta({ id: 'AuditList' });
export const AuditVerification = z
  .object({
    verified: z.boolean(),
    records: z.number(),
    checkpoints: z.number(),
    lastCheckpoint: z.object({ seq: z.number(), time: isoTime() }).nullable(),
    sinceLastCheckpoint: z.number(),
    firstBroken: z.object({ seq: z.number(), id: z.number().nullable(), time: z.string().nullable(), reason: z.string() }).nullable(),
  })
  .meta({ id: 'AuditVerification' });

export const Health = z
  .object({
    /** `degraded` (with 503) when this node cannot reach its store: a load balancer sends requests elsewhere. */
    status: z.enum(['ok', 'degraded']),
    /** Agents connected to this node. */
    connectedAgents: z.number(),
    version: z.string(),
    /** The node that answered (several nodes share one store). */
    node: z.object({ id: z.string(), name: z.string() }),
    database: z.object({ engine: z.enum(['sqlite', 'postgres']), reachable: z.boolean() }),
  })
  .meta({ id: 'Health' });

// --- live updates ----------------------------------------------------------------------------

/** One server-sent event's `data` on GET /api/events (the `event:` line is its `kind`). */
export const LiveEvent = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('action'), actionId: z.string(), machineId: z.string(), status: z.string() }),
    z.object({ kind: z.literal('machine'), machineId: z.string(), change: z.enum(['online', 'offline', 'inventory', 'tags', 'enrolled', 'isolation', 'inactive', 'credentialRevoked', 'credentialInUseTwice', 'risk', 'restriction']) }),
    z.object({ kind: z.literal('timeline'), machineId: z.string(), eventType: z.string() }),
    z.object({ kind: z.literal('alerts'), change: z.enum(['created', 'updated']), alertIds: z.array(z.string()), machineIds: z.array(z.string()) }).meta({ description: 'Alerts were raised or changed (one event per batch; machineIds: the devices they are on)' }),
  ])
  .meta({ id: 'LiveEvent' });

// The hub's events are written to the stream as they are, so they must be exactly LiveEvent
// (live-response hints excepted: they go to the session's own stream, or the node awaiting a completion, only).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const liveEventMatchesHub: Same<z.infer<typeof LiveEvent>, Exclude<CordonEvent, { kind: 'liveResponse' | 'liveCompletion' }>> = true;
void liveEventMatchesHub;
