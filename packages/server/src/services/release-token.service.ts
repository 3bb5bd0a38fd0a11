import { randomUUID } from 'node:crypto';
import { IsolationReport, type CommandSigner } from '@cordon/protocol';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import type { AuditService } from './audit.service.js';
import type { Transactor } from '../repositories/transactor.js';
import type { MachinesService } from './machines.service.js';
import type { TimelineEvent, TimelineService } from './timeline.service.js';
import type { IssuedReleaseToken } from '../api/schemas.js';

/**
 * Break-glass: an offline token that lets someone on the device release its isolation when the
 * server is gone for good. Signed with the command-signing key the agent already trusts, bound to
 * one machine and an expiry. Only a record of issuing is kept, never the token.
 */
export class ReleaseTokenService {
  constructor(
    private readonly tx: Transactor,
    private readonly machines: MachinesService,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    private readonly signer: CommandSigner,
    private readonly now: Clock,
  ) {}

  async issue(principal: Principal, machineId: string, comment: string, expiresInHours: number): Promise<IssuedReleaseToken> {
    const machine = await this.machines.row(machineId);
    const now = this.now();
    const tokenId = randomUUID();
    const issuedAt = now.toISOString();
    const expiresAt = new Date(now.getTime() + expiresInHours * 3600_000).toISOString();
    // Bound to the isolation in force, if any: a leaked token cannot release a later incident's.
    const report = machine.isolation ? IsolationReport.safeParse(JSON.parse(machine.isolation)) : null;
    const isolatedSince = report?.success && report.data.state === 'Isolated' ? report.data.since : null;
    const token = this.signer.signReleaseToken({ purpose: 'release-isolation', tokenId, machineId, issuedBy: principal.name.slice(0, 256), issuedAt, expiresAt, isolatedSince });
    const issued: TimelineEvent = { machineId, eventType: 'ReleaseTokenIssued', title: `Break-glass release token issued by ${principal.name}, valid until ${expiresAt}`, actor: principal.name, data: { tokenId, expiresAt, comment } };
    await this.tx(async (u) => {
      await u.isolation.insertReleaseToken({ id: tokenId, machine_id: machineId, issued_by: principal.name, issued_at: issuedAt, expires_at: expiresAt, comment });
      await u.audit.append([this.audit.row({ actor: principal.name, action: 'IssueReleaseToken', targetType: 'machine', targetId: machineId, comment, outcome: 'Succeeded', detail: { tokenId, expiresAt, isolatedSince } }, issuedAt)]);
      await u.timeline.insert(this.timeline.row(issued, issuedAt));
    });
    this.timeline.published([issued]);
    return { token, tokenId, machineId, computerDnsName: machine.computer_dns_name, expiresAt, isolatedSince };
  }
}
