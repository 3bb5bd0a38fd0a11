/**
 * Decoding a WebSocket message into a frame: the one place both sides turn bytes from the other
 * side into something to route. Whatever arrives — not JSON, too big, nested a million deep, the
 * wrong shape — the answer is a typed rejection, never a throw: a throw in a socket's message
 * handler would take the whole process down.
 */
import type { z } from 'zod';
import { AgentFrame, MAX_AGENT_FRAME_BYTES, MAX_SERVER_FRAME_BYTES, ServerFrame } from './envelope.js';

/**
 * Deepest nesting of objects and arrays a frame may have. Real frames are a few levels deep;
 * checking deeper structures (schemas, JSON.stringify of event data) recurses, and a frame nested
 * hundreds of thousands deep would overflow the stack.
 */
export const MAX_FRAME_DEPTH = 64;

export type FrameRejection = 'size' | 'encoding' | 'json' | 'depth' | 'schema';
export type Decoded<T> = { ok: true; frame: T } | { ok: false; reason: FrameRejection; message: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Whether text is over `max` bytes of UTF-8 (1 to 3 bytes per UTF-16 unit: encoded only when the length cannot decide). */
function tooLarge(s: string, max: number): boolean {
  if (s.length > max) return true;
  if (s.length * 3 <= max) return false;
  return encoder.encode(s).length > max;
}

/** How deep objects and arrays nest in JSON text, scanned without recursion (strings skipped). */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) deepest = depth;
      if (deepest > stopAbove) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

function decode<S extends z.ZodType>(schema: S, data: string | Uint8Array, maxBytes: number): Decoded<z.infer<S>> {
  let text: string;
  if (typeof data === 'string') {
    if (tooLarge(data, maxBytes)) return { ok: false, reason: 'size', message: `frame is larger than ${maxBytes} bytes` };
    text = data;
  } else {
    if (data.byteLength > maxBytes) return { ok: false, reason: 'size', message: `frame is larger than ${maxBytes} bytes` };
    try {
      text = utf8.decode(data);
    } catch {
      return { ok: false, reason: 'encoding', message: 'frame is not UTF-8 text' };
    }
  }
  if (jsonDepth(text, MAX_FRAME_DEPTH) > MAX_FRAME_DEPTH) return { ok: false, reason: 'depth', message: `frame nests deeper than ${MAX_FRAME_DEPTH} levels` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'json', message: 'frame is not JSON' };
  }
  try {
    const parsed = schema.safeParse(json);
    if (!parsed.success) return { ok: false, reason: 'schema', message: `invalid frame: ${parsed.error.issues[0]?.message ?? 'unknown'}` };
    return { ok: true, frame: parsed.data as z.infer<S> };
  } catch (e) {
    // A check that throws (a refinement on hostile data) rejects the frame like any other check.
    return { ok: false, reason: 'schema', message: `invalid frame: ${(e as Error).message}` };
  }
}

/** A frame from an agent, as the gateway takes it. */
export function decodeAgentFrame(data: string | Uint8Array): Decoded<AgentFrame> {
  return decode(AgentFrame, data, MAX_AGENT_FRAME_BYTES);
}

/** A frame from the server, as the agent takes it. */
export function decodeServerFrame(data: string | Uint8Array): Decoded<ServerFrame> {
  return decode(ServerFrame, data, MAX_SERVER_FRAME_BYTES);
}
