import { ACTION_PERMISSIONS } from '@cordon/protocol';
/** Roles from least to most privileged; each role holds the permissions of those before it. */
export const RANKED_ROLES = ['viewer', 'analyst', 'responder', 'admin'] as const;
export type RankedRole = (typeof RANKED_ROLES)[number];

/**
 * Roles outside the ranking, each holding only the permissions listed here: `ingest` is for the
 * tools that send alerts (Falco, a SIEM), whose token can do nothing else if it leaks.
 */
export const SCOPED_ROLES = { ingest: ['alerts.ingest'] } as const satisfies Record<string, readonly string[]>;

/** Every role a token or app registration may have; console users have ranked roles only. */
export const ROLES = [...RANKED_ROLES, ...(Object.keys(SCOPED_ROLES) as (keyof typeof SCOPED_ROLES)[])] as const;
export type Role = RankedRole | keyof typeof SCOPED_ROLES;

export const PERMISSIONS = {
  'machines.read': 'viewer',
  'actions.read': 'viewer',
  'timeline.read': 'viewer',
  'policy.read': 'viewer',
  'alerts.read': 'viewer',
  /** Triage: status, assignment, classification, comments. */
  'alerts.write': 'analyst',
  /** Sending alerts from other tools; the `ingest` role holds this alone. */
  'alerts.ingest': 'responder',
  'indicators.read': 'viewer',
  'rulepacks.read': 'viewer',
  'tags.write': 'analyst',
  'packages.read': 'analyst',
  /** The live-response library: what scripts exist, for the sessions that run them. */
  'library.read': 'analyst',
  /** Device groups: which exist, their rules and what they allow. */
  'groups.read': 'analyst',
  /** Live response: following sessions and reading transcripts (they hold what devices answered). */
  'live.read': 'analyst',
  /** Opening a live-response session and running its basic (read-only) commands. */
  'live.basic': 'analyst',
  /** Advanced live-response commands: putfile, run, remediate, undo (they change the device). */
  'live.advanced': 'responder',
  'actions.submit': 'responder',
  'actions.cancel': 'responder',
  /** Indicators with a blocking action cut devices off addresses: as much as an action. */
  'indicators.write': 'responder',
  'audit.read': 'admin',
  'admin.tokens': 'admin',
  'admin.enrollment': 'admin',
  /** Listing and disabling console users. */
  'admin.users': 'admin',
  'policy.write': 'admin',
  /** What every scan looks for, on every device. */
  'rulepacks.write': 'admin',
  /** Scripts that responders run on devices, as root: admins only. */
  'library.write': 'admin',
  /** Device groups decide device policy (which devices allow live response's shell): admins only. */
  'groups.write': 'admin',
  /** Issuing an offline release token bypasses the action engine: admins only. */
  'isolation.breakGlass': 'admin',
} as const satisfies Record<string, RankedRole>;
export type Permission = keyof typeof PERMISSIONS;

/** What a route needs: a permission, or `public` for the few routes anyone may call. */
export type RouteAccess = Permission | 'public';

export function roleHas(role: Role, permission: Permission): boolean {
  if (role in SCOPED_ROLES) return (SCOPED_ROLES[role as keyof typeof SCOPED_ROLES] as readonly string[]).includes(permission);
  return RANKED_ROLES.indexOf(role as RankedRole) >= RANKED_ROLES.indexOf(PERMISSIONS[permission]);
}

/** Every permission a role holds, for the console to show what the API would refuse. */
export function permissionsOf(role: Role): Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((p) => roleHas(role, p));
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Whether a console user may have this role (a scoped role is for tokens only). */
export function isRankedRole(value: string): value is RankedRole {
  return (RANKED_ROLES as readonly string[]).includes(value);
}

/** Who made a request: shown as `requestor` on actions and as the actor in the audit log. */
export interface Principal {
  id: string;
  name: string;
  role: Role;
}

/** The action catalog names the permission each action needs: every one must be a permission here. */
export const ACTION_PERMISSIONS_ARE_KNOWN: readonly Permission[] = ACTION_PERMISSIONS;
