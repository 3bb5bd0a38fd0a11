import type { z } from 'zod';

/**
 * Who may take an action. The server maps each to the lowest role that holds it; live response
 * and restriction will need stricter ones than refreshing an inventory.
 */
export const ACTION_PERMISSIONS = ['actions.submit'] as const;
export type ActionPermission = (typeof ACTION_PERMISSIONS)[number];

/** A choice the analyst makes when taking an action (Full or Selective isolation, Quick or Full scan). */
export interface ActionOption {
  /** The body field (camelCase; MDE clients send it PascalCase) and agent parameter that carries it. */
  field: string;
  /** As people name the choice ("Isolation type"). */
  label: string;
  values: readonly string[];
  default: string;
  /** A choice as a menu item says it, with `{value}` for the value ("{value} isolation"). */
  item: string;
  /** The chosen value is the action's scope in the Action center. */
  isScope: boolean;
  /** What each value does, with `{device}` for the device's name: the console's dialog says it. */
  describe: Readonly<Record<string, string>>;
}

/**
 * A number the analyst may give with an action besides its option (a scan's CPU share): optional,
 * so leaving it out keeps the default the device applies. Its range is checked by the body schema.
 */
export interface ActionExtra {
  /** The body field (camelCase) and agent parameter that carries it. */
  field: string;
  /** As people name it ("CPU share (%)"). */
  label: string;
  /** What it does and what leaving it out means: the console's field and the CLI's help say it. */
  describe: string;
  min: number;
  max: number;
  /** Its CLI flag, without dashes (`cpu` for `--cpu <value>`). */
  flag: string;
}

/**
 * One action type, declared once: everything the server, the CLI, the console and the agent need
 * to offer, route, authorize, describe and run it. See `index.ts` for the catalog.
 */
export interface ActionSpec<T extends string = string, B extends z.ZodRawShape = z.ZodRawShape, P extends z.ZodType = z.ZodType> {
  /** The machine-action type (MDE's name where MDE has the action). */
  type: T;
  /** The action as people name it: timeline titles, the console, the CLI's help. */
  label: string;
  /** What the agent does, as in "this device's agent cannot <verbPhrase> yet" ('scan'). */
  verbPhrase?: string;
  /** Its endpoint: `POST /api/machines/{id}/<path>` (MDE's spelling). */
  path: string;
  /** The body's fields besides `comment`. */
  body: B;
  /** A rule across body fields that the fields alone cannot say (e.g. "send Sha256 or Sha1"). */
  bodyRule?: { check: (body: Record<string, unknown>) => boolean; message: string; field: string };
  /** What the signed command carries to the agent: the body's fields, plus what the server resolves. */
  parameters: P;
  /** The option the analyst picks, if any. */
  option?: ActionOption;
  /** Optional numbers the analyst may give besides the option. */
  extras?: readonly ActionExtra[];
  /** The agent capability that runs it, and the lowest agent version that has it. */
  capability: string;
  minAgentVersion: string;
  /** Actions that undo each other share a key: at most one action per key is active on a device. Default: the type. */
  exclusionKey?: string;
  permission: ActionPermission;
  /** Can be cancelled while it runs (a scan stops at once), not only while it is Pending. */
  cancelWhileRunning?: boolean;
  /** Said when one is already under way on the device. */
  busy: string;
  /** What taking it does, with `{device}` for the device's name (when it has no option). */
  describe?: string;
  /** Cuts something off: the console asks with a red button. */
  destructive?: boolean;
  /** The action this one undoes: the device page shows one of the two, by the device's state. */
  reverses?: string;
  /** Its icon in the console (a Tabler icon name, e.g. 'lock'). */
  icon?: string;
  /** Its place in the device page's action bar (MDE's order); absent: not on the bar. */
  barPosition?: number;
  /**
   * Its `cordon <verb> <machine> --comment …` command, if it has one; `waitMinutes`: how long
   * `--wait` waits by default (2 minutes; a scan runs for hours).
   */
  cli?: { verb: string; summary: string; waitMinutes?: number };
}

/** Declares an action; the literal `type` becomes part of `ActionType`. */
export function defineAction<const T extends string, B extends z.ZodRawShape, P extends z.ZodType>(spec: ActionSpec<T, B, P>): ActionSpec<T, B, P> {
  return spec;
}
