import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentFrame, MAX_EVENT_DATA_BYTES } from '@cordon/protocol';
import { EventOutbox } from './outbox.js';

let dir: string;
let t: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-outbox-'));
  t = Date.parse('2026-11-25T10:00:00Z');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const now = () => t;
const AT = new Date('2026-11-25T09:59:00Z');

/** A connection that records what it sent, or refuses like a dropped socket. */
function wire(up = true) {
  const sent: AgentFrame[] = [];
  const send = (f: AgentFrame): boolean => {
    if (!up) return false;
    sent.push(AgentFrame.parse(f));
    return true;
  };
  return { sent, send };
}

describe('EventOutbox', () => {
  it('removes the temp file a crash left behind mid-write, and keeps the events', () => {
    const first = new EventOutbox(dir, { now });
    first.add('detection', { path: '/tmp/x' }, AT);
    writeFileSync(join(dir, 'events', 'x.json.123.abcd1234.tmp'), '{"half');
    const again = new EventOutbox(dir, { now });
    expect(again.size).toBe(1);
    expect(readdirSync(join(dir, 'events')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps an event across an agent restart and re-sends it on every connection until acknowledged', () => {
    const first = new EventOutbox(dir, { now });
    const offline = wire(false);
    const e = first.add('blockedExecution', { path: '/tmp/x', sha256: 'a'.repeat(64) }, AT);
    expect(first.flush((f) => offline.send(f))).toBe(0);
    // Restart: a new process finds the event on disk.
    const second = new EventOutbox(dir, { now });
    expect(second.pending()).toEqual([e]);
    const c1 = wire();
    second.reconnected();
    expect(second.flush((f) => c1.send(f))).toBe(1);
    // Not sent twice on one connection...
    expect(second.flush((f) => c1.send(f))).toBe(0);
    // ...but again on the next one, as long as no ack came.
    const c2 = wire();
    second.reconnected();
    second.flush((f) => c2.send(f));
    expect([...c1.sent, ...c2.sent]).toEqual([e, e]);
    expect(second.acknowledged(e.eventId)).toBe(true);
    second.reconnected();
    const c3 = wire();
    expect(second.flush((f) => c3.send(f))).toBe(0);
    expect(new EventOutbox(dir, { now }).size).toBe(0);
    expect(readdirSync(join(dir, 'events'))).toEqual([]);
  });

  it('sends oldest first, at most its rate, whatever the backlog', () => {
    const box = new EventOutbox(dir, { now, perSecond: 10, burst: 5 });
    const events = Array.from({ length: 30 }, (_, i) => box.add('detection', { i }, AT));
    const c = wire();
    box.reconnected();
    expect(box.flush((f) => c.send(f))).toBe(5);
    t += 500;
    expect(box.flush((f) => c.send(f))).toBe(5);
    t += 100_000;
    // A long pause refills to the burst, not beyond.
    expect(box.flush((f) => c.send(f))).toBe(5);
    expect(c.sent).toEqual(events.slice(0, 15));
    // Order survives a restart too.
    const again = new EventOutbox(dir, { now });
    expect(again.pending()).toEqual(events);
  });

  it('is capped: the oldest events are dropped and counted, on disk as well', () => {
    const box = new EventOutbox(dir, { now, maxEvents: 3 });
    const events = Array.from({ length: 5 }, (_, i) => {
      t += 1;
      return box.add('detection', { i }, AT);
    });
    expect(box.pending()).toEqual(events.slice(2));
    expect(box.dropped).toBe(2);
    expect(new EventOutbox(dir, { now }).pending()).toEqual(events.slice(2));
    const bytes = new EventOutbox(dir, { now, maxBytes: 1000 });
    for (let i = 0; i < 10; i++) bytes.add('detection', { filler: 'x'.repeat(200) }, AT);
    expect(bytes.size).toBeLessThan(5);
    // An event over the data budget is refused outright: it never reaches the outbox.
    expect(() => box.add('detection', { blob: 'x'.repeat(MAX_EVENT_DATA_BYTES) }, AT)).toThrow(/at most/);
    expect(box.size).toBe(3);
  });
});
