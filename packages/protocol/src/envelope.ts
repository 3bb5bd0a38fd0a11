import { z } from 'zod';
import { ActionType } from './actions/index.js';
import { ContentKind, ContentName, ContentVersion } from './content-kind.js';
import { IsolationReport } from './isolation.js';
import { RestrictionReport } from './restriction.js';
import { SignedCommand } from './signed-command.js';
import { LiveCancelFrame, LiveCloseFrame, LiveCommandFrame, LiveCompleteFrame, LiveCompletionFrame, LiveDoneFrame, LiveInputFrame, LiveOutputFrame } from './live-response.js';
import { StreamClose, StreamCredit, StreamData, StreamOpen } from './streams.js';

/** Wire protocol version; a peer speaking another version is refused at hello. */
export const PROTOCOL_VERSION = 1;

/** Where agents open their WebSocket on the gateway. */
export const AGENT_WS_PATH = '/agent/v1';

/** Largest WebSocket message the gateway accepts from an agent. */
export const MAX_AGENT_FRAME_BYTES = 1024 * 1024;

/** Largest WebSocket message an agent accepts from the server. */
export const MAX_SERVER_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * The WebSocket close code the server ends an agent's connection with when an admin revoked the
 * device's credential (4000-4999 belong to the application). The agent must enroll again; until
 * then it is refused with 401, like a device the server does not know.
 */
export const CLOSE_CREDENTIAL_REVOKED = 4401;

/**
 * The close code for a connection refused because another agent is connected, alive, with the
 * same device credential (a copied disk or VM). The agent keeps retrying with its usual backoff:
 * if it is the genuine one and the copy goes away, it gets back in.
 */
export const CLOSE_CREDENTIAL_IN_USE = 4409;

/** Where agents upload files (investigation packages) on the gateway: `<UPLOAD_PATH>/<actionId>`. */
export const UPLOAD_PATH = '/agent/v1/uploads';

/**
 * Where agents fetch signed content on the gateway: `<CONTENT_PATH>/<kind>/<name>/manifest` (the
 * newest signed manifest) and `<CONTENT_PATH>/<kind>/<name>/v<version>` (its bytes; `Range: bytes=N-` resumes).
 */
export const CONTENT_PATH = '/agent/v1/content';

/**
 * Enrollment tokens read `cet.<secret>.<caPin>`: the pin (SHA-256 of the server's CA certificate)
 * lets a new agent check it is talking to the right server before it trusts anything it is sent.
 */
export function formatEnrollmentToken(secret: string, caPin: string): string {
  return `cet.${secret}.${caPin}`;
}

export function parseEnrollmentToken(token: string): { secret: string; caPin: string } | null {
  const m = /^cet\.([A-Za-z0-9_-]{43})\.([0-9a-f]{64})$/.exec(token.trim());
  return m ? { secret: m[1]!, caPin: m[2]! } : null;
}

const ActionId = z.uuid();
const short = z.string().max(512);

export const Capability = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,63}$/),
  version: z.string().max(32),
  /** Set when the agent has the code but the device lacks what it needs (e.g. "nft is not installed"). */
  unavailable: z.string().max(256).optional(),
  /** What implements it on this device (e.g. "nftables 1.0.6"), for whoever decides what to run where. */
  provider: z.string().max(64).optional(),
});
export type Capability = z.infer<typeof Capability>;

export const Inventory = z.strictObject({
  hostname: z.string().min(1).max(255),
  osPlatform: short,
  osVersion: short,
  osProcessor: short,
  kernel: short,
  ipAddresses: z.array(z.strictObject({ address: z.string().max(64), family: z.enum(['IPv4', 'IPv6']), interface: z.string().max(64), mac: z.string().max(32).nullable() })).max(256),
  agentVersion: z.string().max(32),
  capabilities: z.array(Capability).max(64),
  deviceTags: z.array(z.string().min(1).max(128)).max(64),
  isolation: IsolationReport.optional(),
  restriction: RestrictionReport.optional(),
});
export type Inventory = z.infer<typeof Inventory>;

/** A command as the server signs it: the agent runs nothing that does not verify against this. */
export const CommandPayload = z.strictObject({
  actionId: ActionId,
  machineId: z.string().regex(/^[0-9a-f]{40}$/),
  type: ActionType,
  parameters: z.record(z.string(), z.unknown()),
  issuedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export type CommandPayload = z.infer<typeof CommandPayload>;

export { SignedCommand } from './signed-command.js';

/** Most bytes of JSON an agent event's `data` may hold: events are notices, not files. */
export const MAX_EVENT_DATA_BYTES = 16 * 1024;

export const DeviceEventKind = z.enum(['detection', 'blockedExecution']);
export type DeviceEventKind = z.infer<typeof DeviceEventKind>;

/**
 * Something the agent noticed on its own, tied to no action. Delivered at least once (re-sent until
 * the server's `eventAck`): `eventId` is what makes a repeat recognisable.
 */
export const DeviceEvent = z.strictObject({
  type: z.literal('event'),
  eventId: z.uuid(),
  kind: DeviceEventKind,
  occurredAt: z.iso.datetime(),
  data: z
    .record(z.string(), z.unknown())
    .refine((d) => new TextEncoder().encode(JSON.stringify(d)).length <= MAX_EVENT_DATA_BYTES, { message: `event data is at most ${MAX_EVENT_DATA_BYTES} bytes of JSON` }),
});
export type DeviceEvent = z.infer<typeof DeviceEvent>;

export const RefusalReason = z.enum(['BadSignature', 'WrongMachine', 'Expired', 'Replayed', 'Malformed', 'Interrupted']);
export type RefusalReason = z.infer<typeof RefusalReason>;

/** Frames the agent sends. */
export const AgentFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('hello'), protocol: z.number().int(), inventory: Inventory }),
  z.strictObject({ type: z.literal('heartbeat'), seq: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal('inventory'), inventory: Inventory }),
  z.strictObject({ type: z.literal('ack'), actionId: ActionId }),
  z.strictObject({ type: z.literal('progress'), actionId: ActionId, percent: z.number().min(0).max(100), message: short.optional() }),
  z.strictObject({
    type: z.literal('result'),
    actionId: ActionId,
    status: z.enum(['Succeeded', 'Failed']),
    error: z.string().max(2048).nullable(),
    result: z.record(z.string(), z.unknown()).nullable(),
  }),
  /** A command the agent would not run, with why; it is never executed. */
  z.strictObject({ type: z.literal('refused'), actionId: z.string().max(64), reason: RefusalReason, detail: short }),
  DeviceEvent,
  LiveOutputFrame,
  LiveDoneFrame,
  LiveCompletionFrame,
  StreamOpen,
  StreamData,
  StreamCredit,
  StreamClose,
]);
export type AgentFrame = z.infer<typeof AgentFrame>;

/** Frames the server sends. */
export const ServerFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('welcome'), machineId: z.string(), serverTime: z.iso.datetime(), heartbeatSeconds: z.number().int().positive() }),
  z.strictObject({ type: z.literal('command'), command: SignedCommand }),
  z.strictObject({ type: z.literal('cancel'), actionId: ActionId }),
  /** The server stored the agent's result or refusal: the agent may drop it from its outbox. */
  z.strictObject({ type: z.literal('resultAck'), actionId: z.string().max(64) }),
  /** The server took the agent's event: the agent may drop it from its event outbox. */
  z.strictObject({ type: z.literal('eventAck'), eventId: z.uuid() }),
  /**
   * A new version of signed content was published: the agent fetches it if it is newer than its
   * own. Sent only to agents with the CONTENT_CAPABILITY (at hello, and at every publication).
   */
  z.strictObject({ type: z.literal('content'), kind: ContentKind, name: ContentName, version: ContentVersion }),
  LiveCommandFrame,
  LiveInputFrame,
  LiveCancelFrame,
  LiveCloseFrame,
  LiveCompleteFrame,
  StreamOpen,
  StreamData,
  StreamCredit,
  StreamClose,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/** For exhaustive switches over frame types: a new frame type that is not handled fails to compile. */
export function assertNever(x: never): never {
  throw new Error(`Unhandled case: ${JSON.stringify(x)}`);
}
