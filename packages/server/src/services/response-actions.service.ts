import type { ActionType } from '@cordon/protocol';
import type { ResponseActionAvailability } from '../api/views.js';
import { PERMISSIONS, roleHas, type Permission, type Principal } from '../auth/permissions.js';
import type { ActionsService } from './actions.service.js';
import type { MachinesService } from './machines.service.js';

const NOT_OFFERED: Partial<Record<ResponseActionAvailability['action'], string>> = {
  AutomatedInvestigation: 'Automated investigation is not offered by this server yet',
  LiveResponse: 'Live response sessions are not offered by this server yet',
  ConsultThreatExpert: 'Consulting a threat expert is not offered by this server yet',
};

const BUSY: Partial<Record<ActionType, string>> = {
  Isolate: 'An isolation of this device is already under way',
  Unisolate: 'A release of this device is already under way',
  CollectInvestigationPackage: 'A package is already being collected from this device',
  RunAntiVirusScan: 'A scan is already running on this device',
  RestrictCodeExecution: 'A restriction of app execution is already under way',
  UnrestrictCodeExecution: 'A removal of app restrictions is already under way',
};

/**
 * What the device page's action bar offers: for each response action, whether the signed-in user
 * can take it on this device now, and if not, why (their role, the agent's capabilities, what is
 * already under way, what this server does not offer). The same rules refuse the action if forced.
 */
export class ResponseActionsService {
  constructor(private readonly machines: MachinesService, private readonly actions: ActionsService) {}

  async of(principal: Principal, machineId: string): Promise<ResponseActionAvailability[]> {
    const machine = await this.machines.row(machineId);
    const active = new Set(await this.actions.activeTypes(machineId));
    const roleReason = (permission: Permission, who: string): string | null =>
      roleHas(principal.role, permission) ? null : `Your role (${principal.role}) may not ${who}; it takes the ${PERMISSIONS[permission]} role or higher`;

    const action = (type: ActionType & ResponseActionAvailability['action']): ResponseActionAvailability => {
      const reason = roleReason('actions.submit', 'take response actions') ?? this.actions.unsupportedReason(machine, type) ?? (active.has(type) ? (BUSY[type] ?? `A ${type} action is already under way`) : null);
      return { action: type, available: reason === null, reason };
    };
    const notOffered = (name: ResponseActionAvailability['action']): ResponseActionAvailability => ({ action: name, available: false, reason: NOT_OFFERED[name]! });

    // While an isolation or release is in flight, the bar shows that one (disabled, busy).
    const isolated = active.has('Unisolate') || (!active.has('Isolate') && machine.isolation_state === 'Isolated');
    const restricted = active.has('UnrestrictCodeExecution') || (!active.has('RestrictCodeExecution') && machine.restriction_state === 'Restricted');
    const tags = roleReason('tags.write', 'change tags');
    return [
      { action: 'ManageTags', available: tags === null, reason: tags },
      notOffered('AutomatedInvestigation'),
      notOffered('LiveResponse'),
      action('CollectInvestigationPackage'),
      action('RunAntiVirusScan'),
      action(restricted ? 'UnrestrictCodeExecution' : 'RestrictCodeExecution'),
      action(isolated ? 'Unisolate' : 'Isolate'),
      notOffered('ConsultThreatExpert'),
    ];
  }
}
