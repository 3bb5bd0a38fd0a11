import { ACTION_PERMISSIONS } from '@cordon/protocol';
/** Roles from least to most privileged; each role holds the permissions of those before it. */
export const ROLES = ['viewer', 'analyst', 'responder', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  'machines.read': 'viewer',
  'actions.read': 'viewer',
  'timeline.read': 'viewer',
  'policy.read': 'viewer',
  'indicators.read': 'viewer',
  'tags.write': 'analyst',
  'packages.read': 'analyst',
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
  /** Issuing an offline release token bypasses the action engine: admins only. */
  'isolation.breakGlass': 'admin',
} as const satisfies Record<string, Role>;
export type Permission = keyof typeof PERMISSIONS;

/** What a route needs: a permission, or `public` for the few routes anyone may call. */
export type RouteAccess = Permission | 'public';

export function roleHas(role: Role, permission: Permission): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(PERMISSIONS[permission]);
}

/** Every permission a role holds, for the console to show what the API would refuse. */
export function permissionsOf(role: Role): Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((p) => roleHas(role, p));
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Who made a request: shown as `requestor` on actions and as the actor in the audit log. */
export interface Principal {
  id: string;
  name: string;
  role: Role;
}

/** The action catalog names the permission each action needs: every one must be a permission here. */
export const ACTION_PERMISSIONS_ARE_KNOWN: readonly Permission[] = ACTION_PERMISSIONS;
