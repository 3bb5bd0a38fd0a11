import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { formatEnrollmentToken, type ActionCatalog, type Inventory } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import { ApiError, ConflictError, markAudited, NotFoundError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { CredentialsRepository, EnrollmentTokenRow } from '../repositories/credentials.repository.js';
import type { EnrollmentTokenView } from '../api/schemas.js';
import type { Actor } from './auth.service.js';
import type { MachinesRepository } from '../repositories/machines.repository.js';
import type { AuditService } from './audit.service.js';
import { newSecret, sha256 } from './auth.service.js';
import { usableActionsOf } from './readiness.js';
import { primaryIp } from './machines.service.js';
import type { TimelineEvent, TimelineService } from './timeline.service.js';
import type { Transactor, UnitOfWork } from '../repositories/transactor.js';

export interface EnrollmentResult {
  machineId: string;
  /** The device's own credential, shown once; the server keeps only its hash. */
  credential: string;
  signingPublicKeyPem: string;
  caCertPem: string;
  heartbeatSeconds: number;
}

/** The live connections of agents, to end one whose credential was revoked. */
export interface AgentConnections {
  isConnected(machineId: string): boolean;
  /** Closes every connection of the machine now and refuses it from then on. */
  disconnect(machineId: string): void;
}

/** Told inside an enrolling device's transaction (alerts raised for its host name join it); answers what to announce once committed. */
export interface NewDeviceObserver {
  claimForNewDevice(u: UnitOfWork, machineId: string, hostName: string, time: string): Promise<() => void>;
}

export class EnrollmentService {
  constructor(
    private readonly credentials: CredentialsRepository,
    private readonly machines: MachinesRepository,
    private readonly tx: Transactor,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    private readonly hub: EventHub,
    private readonly now: Clock,
    private readonly keys: { caPin: string; caCertPem: string; signingPublicKeyPem: string },
    private readonly opts: { enrollmentTokenHours: number; heartbeatSeconds: number },
    private readonly catalog: ActionCatalog,
    /** Bound after construction: the gateway is built with this service. */
    private readonly agents: () => AgentConnections | undefined = () => undefined,
    private readonly newDevices?: NewDeviceObserver,
  ) {}

  async createToken(actor: string): Promise<{ id: string; token: string; expiresAt: string }> {
    const secret = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.opts.enrollmentTokenHours * 3600_000).toISOString();
    const id = randomUUID();
    await this.tx(async (u) => {
      await u.credentials.insertEnrollmentToken({ id, token_hash: sha256(secret), created_at: now.toISOString(), expires_at: expiresAt, created_by: actor, last_used_at: null, revoked_at: null, revoked_by: null });
      await u.audit.append([this.audit.row({ actor, action: 'CreateEnrollmentToken', targetType: 'enrollmentToken', targetId: id, outcome: 'Succeeded', detail: { expiresAt } })]);
    });
    return { id, token: formatEnrollmentToken(secret, this.keys.caPin), expiresAt };
  }

  /** Registers a new device. The token may enroll many devices until it expires (fleet roll-outs). */
  async enroll(secret: string, inv: Inventory): Promise<EnrollmentResult> {
    const row = await this.credentials.enrollmentTokenByHash(sha256(secret));
    const now = this.now();
    // A revoked token fails as an unknown one does; only the audit record says why. An unknown
    // token is noise (counted in metrics by the gateway), a real one is worth a record.
    if (!row || row.revoked_at || row.expires_at <= now.toISOString()) {
      const reason = !row ? 'unknown token' : row.revoked_at ? 'revoked token' : 'expired token';
      if (row) await this.audit.record({ actor: 'agent', action: 'Enroll', targetType: 'enrollmentToken', targetId: row.id, outcome: 'Refused', detail: { reason, hostname: inv.hostname } });
      throw new ApiError(401, 'Unauthorized', reason === 'expired token' ? 'The enrollment token has expired; ask an admin for a new one' : 'The enrollment token is not valid');
    }
    const machineId = randomBytes(20).toString('hex');
    const credential = newSecret('cdm_');
    const time = now.toISOString();
    const enrolled: TimelineEvent = { machineId, eventType: 'AgentEnrolled', title: `Device ${inv.hostname} enrolled`, actor: row.created_by };
    const announce = await this.tx(async (u) => {
    await u.machines.insert({
      id: machineId,
      computer_dns_name: inv.hostname,
      first_seen: time,
      last_seen: time,
      os_platform: inv.osPlatform,
      os_version: inv.osVersion,
      os_processor: inv.osProcessor,
      kernel: inv.kernel,
      agent_version: inv.agentVersion,
      last_ip_address: primaryIp(inv),
      last_external_ip_address: null,
      ip_addresses: JSON.stringify(inv.ipAddresses),
      capabilities: JSON.stringify(inv.capabilities),
      usable_actions: usableActionsOf(this.catalog, inv),
      aad_device_id: null,
      // A device may already be isolated when it enrolls again (its journal survived).
      isolation: inv.isolation ? JSON.stringify(inv.isolation) : null,
      isolation_state: inv.isolation?.state ?? 'NotIsolated',
      restriction: inv.restriction ? JSON.stringify(inv.restriction) : null,
      restriction_state: inv.restriction?.state ?? 'Unrestricted',
      credential_hash: sha256(credential),
      enrolled_at: time,
      credential_revoked_at: null,
      credential_revoked_by: null,
    });
    await u.credentials.touchEnrollmentToken(row.id, time);
    await u.machines.recordIps(machineId, inv.ipAddresses.map((i) => i.address), time);
    await u.machines.replaceDeviceTags(machineId, [...new Set(inv.deviceTags)], time);
    await u.timeline.insert(this.timeline.row(enrolled, time));
    await u.audit.append([this.audit.row({ actor: 'agent', action: 'Enroll', targetType: 'machine', targetId: machineId, outcome: 'Succeeded', detail: { hostname: inv.hostname, tokenId: row.id } }, time)]);
    return this.newDevices?.claimForNewDevice(u, machineId, inv.hostname, time);
    });
    this.timeline.published([enrolled]);
    this.hub.emit({ kind: 'machine', machineId, change: 'enrolled' });
    announce?.();
    return { machineId, credential, signingPublicKeyPem: this.keys.signingPublicKeyPem, caCertPem: this.keys.caCertPem, heartbeatSeconds: this.opts.heartbeatSeconds };
  }

  /** Checks a device credential presented on the agent connection; a revoked one fails as a wrong one does. */
  async authenticateAgent(machineId: string, credential: string): Promise<boolean> {
    const row = await this.machines.credential(machineId);
    if (!row) return false;
    return timingSafeEqual(Buffer.from(row.credential_hash), Buffer.from(sha256(credential))) && !row.credential_revoked_at;
  }

  async listTokens(top: number, skip: number): Promise<EnrollmentTokenView[]> {
    return (await this.credentials.listEnrollmentTokens(top, skip)).map(enrollmentTokenView);
  }

  /** Revokes an enrollment token: no device enrolls with it from then on (devices it enrolled keep their own credentials). */
  async revokeToken(actor: Actor, id: string, comment: string): Promise<EnrollmentTokenView> {
    const row = await this.credentials.enrollmentTokenById(id);
    if (!row) throw new NotFoundError('Enrollment token', id);
    const time = this.now().toISOString();
    const entry = { actor: actor.name, action: 'RevokeEnrollmentToken', targetType: 'enrollmentToken' as const, targetId: id, comment };
    const revoked = await this.tx(async (u) => {
      if (!(await u.credentials.revokeEnrollmentToken(id, time, actor.name))) return false;
      await u.audit.append([this.audit.row({ ...entry, outcome: 'Succeeded', detail: { createdBy: row.created_by, expiresAt: row.expires_at } }, time)]);
      return true;
    });
    if (!revoked) {
      await this.audit.record({ ...entry, outcome: 'Refused', detail: { reason: 'already revoked' } });
      throw markAudited(new ConflictError(`Enrollment token ${id} was revoked already`, 'AlreadyRevoked', 'id'));
    }
    return enrollmentTokenView((await this.credentials.enrollmentTokenById(id))!);
  }

  /**
   * Revokes a device's credential: stored with its audit record and timeline event in one
   * transaction, then the agent's connections are closed at once and it is refused from then on
   * (uploads and content too). The device must enroll again, as a new machine.
   */
  async revokeDevice(actor: Actor, machineId: string, comment: string): Promise<void> {
    const machine = await this.machines.get(machineId);
    if (!machine) throw new NotFoundError('Machine', machineId);
    const time = this.now().toISOString();
    const wasConnected = this.agents()?.isConnected(machineId) ?? false;
    const entry = { actor: actor.name, action: 'RevokeDeviceCredential', targetType: 'machine' as const, targetId: machineId, comment };
    const event: TimelineEvent = { machineId, eventType: 'CredentialRevoked', title: `Device credential revoked by ${actor.name}; the agent must enroll again`, actor: actor.name, data: { comment } };
    const revoked = await this.tx(async (u) => {
      if (!(await u.machines.revokeCredential(machineId, time, actor.name))) return false;
      await u.timeline.insert(this.timeline.row(event, time));
      await u.audit.append([this.audit.row({ ...entry, outcome: 'Succeeded', detail: { computerDnsName: machine.computer_dns_name, wasConnected } }, time)]);
      return true;
    });
    if (!revoked) {
      await this.audit.record({ ...entry, outcome: 'Refused', detail: { reason: 'already revoked' } });
      throw markAudited(new ConflictError(`The credential of machine ${machineId} was revoked already`, 'AlreadyRevoked', 'id'));
    }
    this.agents()?.disconnect(machineId);
    this.timeline.published([event]);
    this.hub.emit({ kind: 'machine', machineId, change: 'credentialRevoked' });
  }
}

function enrollmentTokenView(r: EnrollmentTokenRow): EnrollmentTokenView {
  return { id: r.id, createdAt: r.created_at, createdBy: r.created_by, expiresAt: r.expires_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at, revokedBy: r.revoked_by };
}
