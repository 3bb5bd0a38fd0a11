/**
 * Fuzzing the frame decoder both sides route with: a fixed seed (a failure replays), a time bound
 * (about 2 s), random and mutated frames — malformed JSON, oversized, truncated, deeply nested,
 * wrong types, unknown keys. Every input must be answered with a typed rejection or a frame the
 * schema accepts; nothing may throw, and what is known to be invalid is never accepted.
 */
import { describe, expect, it } from 'vitest';
import { AgentFrame, MAX_AGENT_FRAME_BYTES, MAX_SERVER_FRAME_BYTES, ServerFrame } from './envelope.js';
import { decodeAgentFrame, decodeServerFrame, jsonDepth, MAX_FRAME_DEPTH, type Decoded } from './frames.js';

const SEED = 0x0c0d0a;
const BUDGET_MS = 2000;

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}

const ID = '00000000-0000-4000-8000-000000000001';
const inventory = {
  hostname: 'web-01',
  osPlatform: 'Linux',
  osVersion: 'Debian GNU/Linux 12',
  osProcessor: 'x64',
  kernel: '6.1.0',
  ipAddresses: [{ address: '10.1.2.3', family: 'IPv4', interface: 'eth0', mac: null }],
  agentVersion: '0.1.0',
  capabilities: [{ name: 'inventory', version: '1' }],
  deviceTags: ['prod'],
  isolation: { state: 'NotIsolated', type: null, since: null, releasedBy: null },
};
const AGENT_FRAMES: Record<string, unknown>[] = [
  { type: 'hello', protocol: 1, inventory },
  { type: 'heartbeat', seq: 3 },
  { type: 'inventory', inventory },
  { type: 'ack', actionId: ID },
  { type: 'progress', actionId: ID, percent: 50, message: 'half way' },
  { type: 'result', actionId: ID, status: 'Succeeded', error: null, result: { nested: { list: [1, 'two', null] } } },
  { type: 'refused', actionId: ID, reason: 'BadSignature', detail: 'signature does not verify' },
  { type: 'event', eventId: ID, kind: 'detection', occurredAt: '2026-11-25T10:00:00.000Z', data: { path: '/tmp/eicar', rule: 'EICAR' } },
  { type: 'streamOpen', streamId: ID, kind: 'fileTransfer', ownerId: ID, credit: 1024 },
  { type: 'streamData', streamId: ID, seq: 0, data: 'aGVsbG8=' },
  { type: 'streamCredit', streamId: ID, bytes: 4096 },
  { type: 'streamClose', streamId: ID, reason: 'Completed' },
  { type: 'liveOutput', sessionId: ID, seq: 1, text: 'total 0\n' },
  { type: 'liveDone', sessionId: ID, seq: 1, exitStatus: 0, error: null, cwd: '/tmp', truncated: false, data: { entries: [] } },
  { type: 'liveCompletion', sessionId: ID, completionId: ID, base: '/', entries: [{ name: 'etc', type: 'dir' }], truncated: false, error: null },
];
const SERVER_FRAMES: Record<string, unknown>[] = [
  { type: 'welcome', machineId: 'a'.repeat(40), serverTime: '2026-11-25T10:00:00.000Z', heartbeatSeconds: 30 },
  { type: 'command', command: { payload: '{"actionId":"x"}', signature: 'c2ln', keyId: 'k1', proof: ['l00'] } },
  { type: 'cancel', actionId: ID },
  { type: 'resultAck', actionId: ID },
  { type: 'eventAck', eventId: ID },
  { type: 'content', kind: 'indicators', name: 'default', version: 3 },
  { type: 'liveCommand', sessionId: ID, seq: 2, command: { payload: '{"actionId":"x"}', signature: 'c2ln', keyId: 'k1' } },
  { type: 'liveCancel', sessionId: ID, seq: 2 },
  { type: 'liveClose', sessionId: ID, reason: 'IdleTimeout' },
  { type: 'liveComplete', sessionId: ID, completionId: ID, command: { payload: '{"actionId":"x"}', signature: 'c2ln', keyId: 'k1' } },
  { type: 'streamCredit', streamId: ID, bytes: 4096 },
];

/** Values of every JSON type, each wrong for most fields. */
const WRONG = [null, true, 0, -1, 1e308, 1.5, '', 'x'.repeat(600), [], {}, [1, 2], { type: 'hello' }, '00000000-0000-4000-8000-00000000000g'];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Every path to a value inside a JSON value. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k]!, [...at, k], out);
  if (at.length) out.push(at);
  return out;
}
function setAt(root: Json, path: (string | number)[], value: Json | undefined): void {
  let cur = root as Record<string | number, Json>;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (value === undefined && !Array.isArray(cur)) delete cur[last];
  else cur[last] = value as Json;
}

interface Case {
  text: string;
  /** Known to be invalid: the decoder must reject it (with this reason, when given). */
  invalid?: true | string;
}

/** One fuzz input, from a valid frame of `corpus`. */
function makeCase(r: ReturnType<typeof rng>, corpus: Record<string, unknown>[], maxBytes: number): Case {
  const base = clone(r.pick(corpus)) as Record<string, Json>;
  const text = JSON.stringify(base);
  switch (r.int(12)) {
    case 0: // valid as is
      return { text };
    case 1: // truncated: a strict prefix of an object's text is never JSON
      return { text: text.slice(0, r.int(text.length)), invalid: 'json' };
    case 2: {
      // a value replaced by a value of another type (may happen to be valid: e.g. a string for a string)
      const ps = paths(base);
      setAt(base, r.pick(ps), clone(r.pick(WRONG)) as Json);
      return { text: JSON.stringify(base) };
    }
    case 3: // an unknown key: every frame is a strict object
      return { text: JSON.stringify({ ...base, [r.pick(['extra', '__proto__', 'constructor', 'Type', ''])]: 1 }), invalid: 'schema' };
    case 4: // the discriminator missing or unknown
      return { text: JSON.stringify({ ...base, type: r.pick([undefined, 'nosuch', 1, null, 'HELLO']) }), invalid: 'schema' };
    case 5: {
      // a required key removed (every frame here has at least one besides `type`)
      const keys = Object.keys(base).filter((k) => k !== 'type' && !['message', 'isolation', 'detail', 'proof'].includes(k) && !(base.type === 'liveDone' && k === 'data'));
      if (keys.length === 0) return { text };
      delete base[r.pick(keys)];
      return { text: JSON.stringify(base), invalid: 'schema' };
    }
    case 6: {
      // random bytes flipped, inserted or deleted (validity unknown)
      const chars = [...text];
      for (let n = 1 + r.int(4); n > 0; n--) {
        const i = r.int(chars.length + 1);
        const op = r.int(3);
        const c = String.fromCharCode(r.pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x00, 0x1f, 0x20, 0xd800, 0x61 + r.int(26), 0x30 + r.int(10)]));
        if (op === 0) chars.splice(i, 1, c);
        else if (op === 1) chars.splice(i, 0, c);
        else chars.splice(i, 1);
      }
      return { text: chars.join('') };
    }
    case 7: // oversized
      return { text: JSON.stringify({ ...base, pad: 'x'.repeat(maxBytes) }), invalid: 'size' };
    case 8: {
      // nested far too deep, inside a field that takes any JSON when it is shallow
      const depth = MAX_FRAME_DEPTH + 1 + r.int(r.next() < 0.2 ? 300_000 : 200);
      const deep = '['.repeat(depth) + ']'.repeat(depth);
      // Where the schema takes free-form JSON (a result, an event's data), else as an extra key.
      const field = 'result' in base && base.result !== null ? 'result' : base.type === 'event' ? 'data' : 'extra';
      base[field] = { a: '__DEEP__' };
      return { text: JSON.stringify(base).replace('"__DEEP__"', deep), invalid: 'depth' };
    }
    case 9: // not an object at all
      return { text: r.pick(['', ' ', 'null', 'true', '0', '"hello"', '[]', '[{}]', 'NaN', 'undefined', '{', '}', '{"type":"hello"', '\u0000', '\ufeff{}']), invalid: true };
    case 10: {
      // every character of a random stretch replaced by random printable ones (validity unknown)
      const start = r.int(text.length);
      const len = 1 + r.int(16);
      let junk = '';
      for (let i = 0; i < len; i++) junk += String.fromCharCode(0x20 + r.int(95));
      return { text: text.slice(0, start) + junk + text.slice(start + len) };
    }
    default: {
      // several mutations of values at once (validity unknown)
      const ps = paths(base);
      for (let n = 2 + r.int(3); n > 0; n--) {
        const p = r.pick(ps);
        try {
          setAt(base, p, r.next() < 0.3 ? undefined : (clone(r.pick(WRONG)) as Json));
        } catch {
          // the path went away with an earlier mutation
        }
      }
      return { text: JSON.stringify(base) };
    }
  }
}

function check(decode: (d: string | Uint8Array) => Decoded<unknown>, schema: typeof AgentFrame | typeof ServerFrame, c: Case, asBytes: boolean): string | null {
  let d: Decoded<unknown>;
  try {
    d = decode(asBytes ? new TextEncoder().encode(c.text) : c.text);
  } catch (e) {
    return `threw ${(e as Error).name}: ${(e as Error).message}`;
  }
  if (!d.ok) {
    if (!['size', 'encoding', 'json', 'depth', 'schema'].includes(d.reason) || typeof d.message !== 'string') return `untyped rejection ${JSON.stringify(d)}`;
    if (typeof c.invalid === 'string' && d.reason !== c.invalid) return `rejected as ${d.reason}, expected ${c.invalid}`;
    return null;
  }
  if (c.invalid) return 'accepted a frame known to be invalid';
  // Accepted: it must be JSON within the limits, exactly the parsed text, and valid by the schema.
  // As bytes, the text is what UTF-8 can carry: a lone surrogate arrives as U+FFFD.
  const sent = asBytes ? new TextDecoder().decode(new TextEncoder().encode(c.text)) : c.text;
  if (jsonDepth(sent) > MAX_FRAME_DEPTH) return 'accepted a frame nested too deep';
  if (!schema.safeParse(JSON.parse(sent)).success) return 'accepted what the schema refuses';
  if (JSON.stringify(d.frame) !== JSON.stringify(JSON.parse(sent))) return 'the decoded frame differs from the text';
  return null;
}

describe('frame decoder fuzz', () => {
  for (const [side, decode, schema, corpus, maxBytes] of [
    ['agent → server', decodeAgentFrame, AgentFrame, AGENT_FRAMES, MAX_AGENT_FRAME_BYTES],
    ['server → agent', decodeServerFrame, ServerFrame, SERVER_FRAMES, MAX_SERVER_FRAME_BYTES],
  ] as const) {
    it(`${side}: random and mutated frames are rejected cleanly, valid ones accepted (seed ${SEED}, ${BUDGET_MS} ms)`, () => {
      for (const f of corpus) expect(decode(JSON.stringify(f)), JSON.stringify(f)).toEqual({ ok: true, frame: f });
      const r = rng(SEED);
      const failures: string[] = [];
      const seen = { total: 0, accepted: 0, rejected: 0 };
      const deadline = Date.now() + BUDGET_MS;
      while (Date.now() < deadline && failures.length < 5) {
        const c = makeCase(r, corpus, maxBytes);
        const asBytes = r.next() < 0.5;
        const problem = check(decode, schema, c, asBytes);
        seen.total++;
        if (problem) failures.push(`case ${seen.total} (${asBytes ? 'bytes' : 'text'}): ${problem}: ${c.text.slice(0, 200)}`);
        else if (decode(c.text).ok) seen.accepted++;
        else seen.rejected++;
      }
      expect(failures).toEqual([]);
      // The run did real work both ways (not a fixed count: the machine may be slow).
      expect(seen.accepted).toBeGreaterThan(0);
      expect(seen.rejected).toBeGreaterThan(0);
    });
  }

  it('rejects the known hostile shapes with their reason, never a throw', () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const event = (data: string) => `{"type":"event","eventId":"${ID}","kind":"detection","occurredAt":"2026-11-25T10:00:00.000Z","data":{"a":${data}}}`;
    expect(decodeAgentFrame(event(deep(200_000)))).toMatchObject({ ok: false, reason: 'depth' });
    expect(decodeAgentFrame(`{"type":"result","actionId":"${ID}","status":"Succeeded","error":null,"result":{"a":${deep(MAX_FRAME_DEPTH)}}}`)).toMatchObject({ ok: false, reason: 'depth' });
    expect(decodeAgentFrame(event(deep(MAX_FRAME_DEPTH - 3))).ok).toBe(true);
    // Brackets inside strings are text, not nesting.
    expect(decodeAgentFrame(`{"type":"progress","actionId":"${ID}","percent":1,"message":"${'['.repeat(400)}\\"${'{'.repeat(100)}"}`).ok).toBe(true);
    expect(decodeAgentFrame(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))).toMatchObject({ ok: false, reason: 'encoding' });
    expect(decodeAgentFrame('x'.repeat(MAX_AGENT_FRAME_BYTES + 1))).toMatchObject({ ok: false, reason: 'size' });
    // Multi-byte text is measured in bytes, not characters.
    expect(decodeAgentFrame(`{"type":"heartbeat","seq":1,"p":"${'é'.repeat(MAX_AGENT_FRAME_BYTES / 2)}"}`)).toMatchObject({ ok: false, reason: 'size' });
    expect(decodeAgentFrame('{"type":"heartbeat","seq":1')).toMatchObject({ ok: false, reason: 'json' });
    expect(decodeAgentFrame('{"type":"heartbeat","seq":-1}')).toMatchObject({ ok: false, reason: 'schema' });
    expect(decodeServerFrame('{"type":"hello","protocol":1}')).toMatchObject({ ok: false, reason: 'schema' });
  });
});
