import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { formatEnrollmentToken, type Inventory } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import { ApiError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { CredentialsRepository } from '../repositories/credentials.repository.js';
import type { MachinesRepository } from '../repositories/machines.repository.js';
import type { AuditService } from './audit.service.js';
import { newSecret, sha256 } from './auth.service.js';
import { primaryIp } from './machines.service.js';
import type { TimelineEvent, TimelineService } from './timeline.service.js';
import type { Transactor } from '../repositories/transactor.js';

export interface EnrollmentResult {
  machineId: string;
  /** The device's own credential, shown once; the server keeps only its hash. */
  credential: string;
  signingPublicKeyPem: string;
  caCertPem: string;
  heartbeatSeconds: number;
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
  ) {}

  async createToken(actor: string): Promise<{ token: string; expiresAt: string }> {
    const secret = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.opts.enrollmentTokenHours * 3600_000).toISOString();
    const id = randomUUID();
    await this.tx(async (u) => {
      await u.credentials.insertEnrollmentToken({ id, token_hash: sha256(secret), created_at: now.toISOString(), expires_at: expiresAt, created_by: actor });
      await u.audit.append([this.audit.row({ actor, action: 'CreateEnrollmentToken', targetType: 'enrollmentToken', targetId: id, outcome: 'Succeeded', detail: { expiresAt } })]);
    });
    return { token: formatEnrollmentToken(secret, this.keys.caPin), expiresAt };
  }

  /** Registers a new device. The token may enroll many devices until it expires (fleet roll-outs). */
  async enroll(secret: string, inv: Inventory): Promise<EnrollmentResult> {
    const row = await this.credentials.enrollmentTokenByHash(sha256(secret));
    const now = this.now();
    if (!row || row.expires_at <= now.toISOString()) {
      // An expired token was really issued: worth a record. An unknown one is noise (counted in metrics by the gateway).
      if (row) await this.audit.record({ actor: 'agent', action: 'Enroll', targetType: 'enrollmentToken', targetId: row.id, outcome: 'Refused', detail: { reason: 'expired token', hostname: inv.hostname } });
      throw new ApiError(401, 'Unauthorized', row ? 'The enrollment token has expired; ask an admin for a new one' : 'The enrollment token is not valid');
    }
    const machineId = randomBytes(20).toString('hex');
    const credential = newSecret('cdm_');
    const time = now.toISOString();
    const enrolled: TimelineEvent = { machineId, eventType: 'AgentEnrolled', title: `Device ${inv.hostname} enrolled`, actor: row.created_by };
    await this.tx(async (u) => {
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
      aad_device_id: null,
      // A device may already be isolated when it enrolls again (its journal survived).
      isolation: inv.isolation ? JSON.stringify(inv.isolation) : null,
      isolation_state: inv.isolation?.state ?? 'NotIsolated',
      credential_hash: sha256(credential),
      enrolled_at: time,
    });
    await u.machines.recordIps(machineId, inv.ipAddresses.map((i) => i.address), time);
    await u.machines.replaceDeviceTags(machineId, [...new Set(inv.deviceTags)], time);
    await u.timeline.insert(this.timeline.row(enrolled, time));
    await u.audit.append([this.audit.row({ actor: 'agent', action: 'Enroll', targetType: 'machine', targetId: machineId, outcome: 'Succeeded', detail: { hostname: inv.hostname, tokenId: row.id } }, time)]);
    });
    this.timeline.published([enrolled]);
    this.hub.emit({ kind: 'machine', machineId, change: 'enrolled' });
    return { machineId, credential, signingPublicKeyPem: this.keys.signingPublicKeyPem, caCertPem: this.keys.caCertPem, heartbeatSeconds: this.opts.heartbeatSeconds };
  }

  /** Checks a device credential presented on the agent connection. */
  async authenticateAgent(machineId: string, credential: string): Promise<boolean> {
    const hash = await this.machines.credentialHash(machineId);
    if (!hash) return false;
    return timingSafeEqual(Buffer.from(hash), Buffer.from(sha256(credential)));
  }
}
