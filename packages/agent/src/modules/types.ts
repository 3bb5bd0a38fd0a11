import type { Inventory } from '@cordon/protocol';

/** The inventory fields that enforcements report (each module fills its own). */
export type ModuleReport = Partial<Pick<Inventory, 'isolation' | 'restriction'>>;

/**
 * An enforcement the agent keeps in force across restarts (network isolation today; execution
 * restriction and indicator blocks next). Each is journaled on disk by the module itself; the
 * agent only drives the life cycle, so adding one is a folder plus a line in the registry.
 */
export interface AgentModule {
  readonly name: string;
  /**
   * At start, before the agent connects: put the journaled enforcement back in force. Must fail
   * closed (a damaged journal means "enforce", never "release").
   */
  restore(): Promise<void>;
  /**
   * The watchdog, called periodically: repair drift (rules flushed by another tool, a release
   * made by another process). Answers whether the module's report changed, so the agent can tell
   * the server at once instead of at the next inventory.
   */
  check(): Promise<boolean>;
  /** Its part of the inventory, read from the journal (the source of truth, which other processes may edit). */
  report(): ModuleReport;
  /** At shutdown. Enforcements stay in force after the agent exits: stopping must not release them. */
  stop(): Promise<void>;
}
