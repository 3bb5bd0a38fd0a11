import type { ServerFrame } from '@cordon/protocol';
import type { CordonEvent } from '../events.js';
import type { ActionProgress } from '../services/action-progress.js';

/** What one node tells the others. Small on purpose: a message names things, the store holds them. */
export type BusMessage =
  /** Actions submitted for agents this node does not hold: the holder reads and sends them. */
  | { topic: 'deliver'; items: { machineId: string; actionId: string }[] }
  /** A small frame (a cancel) for an agent held elsewhere. */
  | { topic: 'frame'; machineId: string; frame: ServerFrame }
  /** A live-response line for an agent held elsewhere: its holder reads the signed line from the store and sends it. */
  | { topic: 'liveLine'; machineId: string; sessionId: string; seq: number }
  /** A shell's input chunk for an agent held elsewhere: its holder reads it from the store and sends it after what came before. */
  | { topic: 'liveInput'; machineId: string; sessionId: string; seq: number; chunk: number }
  /** A small frame for every agent, on every node, whose capabilities include `capability` (new content). */
  | { topic: 'broadcast'; frame: ServerFrame; capability: string }
  /** A live event for every node's /api/events. */
  | { topic: 'event'; event: CordonEvent }
  /** A running action's progress, reported to the node holding its agent. */
  | { topic: 'progress'; progress: ActionProgress }
  /** A token, app or user was revoked: long-lived answers check their caller again. */
  | { topic: 'revoked' }
  /** A device credential was revoked: its holder closes the connection and refuses it from then on. */
  | { topic: 'disconnect'; machineId: string }
  /** Node `nodeId` took (held) or lost (not held) an agent's connection. */
  | { topic: 'presence'; machineId: string; nodeId: string; held: boolean };

/**
 * How server nodes tell each other what changed. PostgreSQL is the only coordination (LISTEN/
 * NOTIFY, postgres-bus.ts); a single node on SQLite has nobody to tell (LocalBus). Messages are
 * hints: whatever a node may have missed while its bus was down it catches up from the store on
 * `resync`.
 */
export interface ClusterBus {
  /** This node, as other nodes and the store name it. */
  readonly nodeId: string;
  /** Sends to every other node (never back to this one); resolves once sent. */
  publish(messages: BusMessage[]): Promise<void>;
  /** Takes messages from other nodes. */
  subscribe(handler: (message: BusMessage) => void): void;
  /** Runs after the bus (re)connected: the node catches up from the store on what it missed. */
  onResync(handler: () => Promise<void>): void;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A single node: nobody else to tell. */
export class LocalBus implements ClusterBus {
  constructor(readonly nodeId: string) {}
  async publish(): Promise<void> {}
  subscribe(): void {}
  onResync(): void {}
  async start(): Promise<void> {}
  async close(): Promise<void> {}
}
