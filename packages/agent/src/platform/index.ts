import type { Inventory } from '@cordon/protocol';
import { linuxPlatform } from './linux/index.js';
import type { IsolationPlan } from './linux/nft-ruleset.js';

export type { IsolationPlan } from './linux/nft-ruleset.js';

/** The device's firewall, as isolation needs it: one table of Cordon's, replaced or removed whole. */
export interface Firewall {
  /** Whether isolation can work here (the tool is present and the agent may use it), and its version. */
  check(): Promise<{ ok: true; version: string } | { ok: false; reason: string }>;
  /** Replaces Cordon's rules with `plan` in one transaction. */
  apply(plan: IsolationPlan): Promise<void>;
  /** Removes Cordon's rules, and nothing else of the host's firewall; fine when there are none. */
  remove(): Promise<void>;
  /** Whether Cordon's rules are loaded right now (false after a reboot or a flush). */
  active(): Promise<boolean>;
}

/** A cgroup (v2) as the firewall names it: a path below the cgroup root and its depth. */
export interface CgroupRef {
  path: string;
  level: number;
}

/** What users on the device were told, per channel. */
export interface NotifyResult {
  wall: string;
  desktop: { user: string; result: string }[];
}

/** What the agent asks of the operating system; one implementation per OS, chosen once here. */
export interface Platform {
  /** Describes the device: everything in an inventory except what the agent itself adds. */
  describe(): Promise<Omit<Inventory, 'agentVersion' | 'capabilities' | 'deviceTags' | 'isolation'>>;
  firewall: Firewall;
  /** The name servers the device resolves with. */
  resolvers(): Promise<string[]>;
  /** The cgroup of a running service unit (its traffic may pass a selective isolation), or why not. */
  unitCgroup(unit: string): Promise<CgroupRef | { error: string }>;
  /**
   * Selective isolation by program: moves the running processes of these executables into a
   * cgroup of Cordon's (created on first use) and answers it with how many processes it holds.
   */
  adoptPrograms(programs: string[]): Promise<{ cgroup: CgroupRef; processes: number } | { error: string }>;
  /** Puts adopted processes back where they came from and removes Cordon's cgroup. */
  releasePrograms(): Promise<void>;
  /** Tells logged-in users something (terminals, desktop notifications); never fails. */
  notifyUsers(title: string, message: string): Promise<NotifyResult>;
}

export function currentPlatform(): Platform {
  switch (process.platform) {
    case 'linux':
      return linuxPlatform;
    default:
      throw new Error(`The Cordon agent does not support ${process.platform} yet`);
  }
}
