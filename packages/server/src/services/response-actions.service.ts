import type { ActionCatalog, ActionSpec } from '@cordon/protocol';
import type { ActionHandlers } from '../actions/index.js';
import { actionTypeInfo } from '../api/action-types.js';
import type { ResponseActionAvailability } from '../api/schemas.js';
import { PERMISSIONS, roleHas, type Permission, type Principal } from '../auth/permissions.js';
import type { ActionsService } from './actions.service.js';
import type { MachinesService } from './machines.service.js';

/** What the action bar shows that is not a machine action of the catalog: tags, live response sessions, and what is still to come (`offered: false`). */
const OTHER_BAR_ENTRIES: { action: string; label: string; icon: string; barPosition: number; offered: boolean }[] = [
  { action: 'ManageTags', label: 'Manage tags', icon: 'tags', barPosition: 10, offered: true },
  { action: 'AutomatedInvestigation', label: 'Initiate Automated Investigation', icon: 'brain', barPosition: 20, offered: false },
  { action: 'LiveResponse', label: 'Initiate Live Response Session', icon: 'terminal-2', barPosition: 30, offered: true },
  { action: 'ConsultThreatExpert', label: 'Consult a threat expert', icon: 'message-question', barPosition: 80, offered: false },
];

/** Said of an action the bar shows (as MDE's does) that this server has no implementation of. */
export const notOffered = (label: string): string => `${label}: this Cordon server does not offer it yet`;

/**
 * What the device page's action bar offers: for each response action, whether the signed-in user
 * can take it on this device now, and if not, why (their role, the agent's capabilities, what is
 * already under way, what this server does not offer). The same rules refuse the action if forced.
 * The actions, their order and their words come from the action catalog.
 */
export class ResponseActionsService {
  constructor(
    private readonly machines: MachinesService,
    private readonly actions: ActionsService,
    private readonly catalog: ActionCatalog,
    private readonly handlers: ActionHandlers,
  ) {}

  async of(principal: Principal, machineId: string): Promise<ResponseActionAvailability[]> {
    const machine = await this.machines.row(machineId);
    const active = new Set(await this.actions.activeTypes(machineId));
    const roleReason = (permission: Permission, who: string): string | null =>
      roleHas(principal.role, permission) ? null : `Your role (${principal.role}) may not ${who}; it takes the ${PERMISSIONS[permission]} role or higher`;

    const entry = (spec: ActionSpec): ResponseActionAvailability => {
      const reason = roleReason(spec.permission, 'take response actions') ?? this.actions.unsupportedReason(machine, spec) ?? (active.has(spec.type) ? spec.busy : null);
      const { type, barPosition: _onBar, ...info } = actionTypeInfo(spec);
      return { action: type, ...info, available: reason === null, reason, undoes: spec.reverses ?? null };
    };
    // Of an action and the one that reverses it, the bar shows one: the reverse while the device is
    // in the state the action establishes, and whichever is in flight (disabled, busy).
    const shown = (spec: ActionSpec): ActionSpec => {
      const reverse = this.catalog.actions.find((a) => a.reverses === spec.type);
      if (!reverse) return spec;
      const engaged = this.handlers.for(spec.type)?.engaged?.(spec.type, machine) ?? false;
      return active.has(reverse.type) || (!active.has(spec.type) && engaged) ? reverse : spec;
    };
    const tags = roleReason('tags.write', 'change tags');
    const live = this.catalog.actions.find((a) => a.type === 'LiveResponse');
    // A session already open stays reachable: the button opens it (anyone who may open one may follow it).
    const liveOpen = active.has('LiveResponse');
    const reasonOf = (e: (typeof OTHER_BAR_ENTRIES)[number]): string | null => {
      if (!e.offered) return notOffered(e.label);
      if (e.action !== 'LiveResponse') return tags;
      const who = roleReason('live.basic', 'open live response sessions');
      if (who) return who;
      return live ? this.actions.unsupportedReason(machine, { ...live, label: e.label }) : notOffered(e.label);
    };
    const bar = [
      ...OTHER_BAR_ENTRIES.map((e) => {
        const reason = reasonOf(e);
        const path = e.action === 'LiveResponse' ? '/api/machines/{id}/liveResponseSessions' : null;
        const describe = e.action === 'LiveResponse' && liveOpen && reason === null ? 'Live response is already under way on this device: this opens its session' : null;
        return { barPosition: e.barPosition, value: { action: e.action, label: e.label, available: reason === null, reason, path, option: null, extras: [], describe, destructive: false, cancelWhileRunning: false, icon: e.icon, undoes: null } };
      }),
      ...this.catalog.actions.filter((a) => a.barPosition !== undefined).map((a) => ({ barPosition: a.barPosition!, value: entry(shown(a)) })),
    ];
    return bar.sort((a, b) => a.barPosition - b.barPosition).map((b) => b.value);
  }
}
