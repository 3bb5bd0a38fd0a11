import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceEvent, type AgentFrame, type DeviceEventKind } from '@cordon/protocol';
import { writeFileDurable } from '../durable.js';

/** How much the event outbox keeps and how fast it sends. */
export interface EventOutboxLimits {
  /** Events kept at most; past that the oldest are dropped (and counted). */
  maxEvents: number;
  /** Bytes of events kept at most, likewise. */
  maxBytes: number;
  /**
   * Events sent per second, and in one burst: the gateway cuts off an agent over 50 frames a
   * second (burst 200) in all, so a backlog after a long time offline must trickle, not pour.
   */
  perSecond: number;
  burst: number;
}

const DEFAULTS: EventOutboxLimits = { maxEvents: 10_000, maxBytes: 32 * 1024 * 1024, perSecond: 20, burst: 40 };
const ID = /^[0-9a-f-]{36}$/;

interface Stored {
  /** Order of arrival, across restarts: the outbox sends and drops oldest first. */
  queuedAt: number;
  n: number;
  event: DeviceEvent;
}

/**
 * Agent events (detections, blocked executions) waiting for the server's `eventAck`: one fsync'd
 * file per event under `<dataDir>/events`, written before the event is first sent, so an event
 * survives a restart or a power cut and is re-sent on every connection until acknowledged.
 */
export class EventOutbox {
  readonly #dir: string;
  readonly #limits: EventOutboxLimits;
  readonly #now: () => number;
  /** Oldest first (Map keeps insertion order). */
  readonly #events = new Map<string, Stored & { bytes: number }>();
  #bytes = 0;
  #n = 0;
  /** Sent on the current connection and not acknowledged yet: not sent again until a reconnect. */
  readonly #sent = new Set<string>();
  #tokens: number;
  #refilledAt: number;
  /** Events dropped because the outbox was full, since this process started. */
  dropped = 0;

  constructor(dataDir: string, opts: Partial<EventOutboxLimits> & { now?: () => number } = {}) {
    this.#dir = join(dataDir, 'events');
    this.#limits = { ...DEFAULTS, ...opts };
    this.#now = opts.now ?? Date.now;
    this.#tokens = this.#limits.burst;
    this.#refilledAt = this.#now();
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const found: (Stored & { bytes: number })[] = [];
    for (const name of readdirSync(this.#dir)) {
      // The temp file of a write a crash interrupted: its rename never happened, so it is no event.
      if (name.endsWith('.tmp')) rmSync(join(this.#dir, name), { force: true });
      if (!name.endsWith('.json')) continue;
      try {
        const text = readFileSync(join(this.#dir, name), 'utf8');
        const s = JSON.parse(text) as Stored;
        const event = DeviceEvent.safeParse(s.event);
        if (event.success && `${event.data.eventId}.json` === name) found.push({ queuedAt: s.queuedAt, n: s.n, event: event.data, bytes: Buffer.byteLength(text) });
      } catch {
        // A torn write can only be the temp file of an interrupted write; the rename never happened.
      }
    }
    found.sort((a, b) => a.queuedAt - b.queuedAt || a.n - b.n);
    for (const s of found) this.#keep(s);
    this.#n = found.length;
  }

  /** Events not acknowledged yet. */
  get size(): number {
    return this.#events.size;
  }

  /** Queues an event durably (before it is ever sent); answers the frame. Drops the oldest when full. */
  add(kind: DeviceEventKind, data: Record<string, unknown>, occurredAt: Date): DeviceEvent {
    const event = DeviceEvent.parse({ type: 'event', eventId: randomUUID(), kind, occurredAt: occurredAt.toISOString(), data });
    const stored: Stored = { queuedAt: this.#now(), n: this.#n++, event };
    const text = JSON.stringify(stored);
    writeFileDurable(join(this.#dir, `${event.eventId}.json`), text);
    this.#keep({ ...stored, bytes: Buffer.byteLength(text) });
    for (const [id] of this.#events) {
      if (this.#events.size <= this.#limits.maxEvents && this.#bytes <= this.#limits.maxBytes) break;
      this.#forget(id);
      this.dropped++;
    }
    return event;
  }

  /** Unacknowledged events, oldest first. */
  pending(): DeviceEvent[] {
    return [...this.#events.values()].map((s) => s.event);
  }

  /** The server took the event: it is never sent again. False for an id the outbox does not hold. */
  acknowledged(eventId: string): boolean {
    if (!ID.test(eventId) || !this.#events.has(eventId)) return false;
    // No directory fsync: an acknowledged event that comes back after a power cut is sent again,
    // and the server recognises it by its id.
    this.#forget(eventId);
    return true;
  }

  /** A new connection: every unacknowledged event is due again. */
  reconnected(): void {
    this.#sent.clear();
    this.#tokens = this.#limits.burst;
    this.#refilledAt = this.#now();
  }

  /** Sends due events, oldest first, as far as the rate allows and `send` succeeds; answers how many went. */
  flush(send: (frame: AgentFrame) => boolean): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#limits.burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#limits.perSecond);
    this.#refilledAt = now;
    let count = 0;
    for (const [id, s] of this.#events) {
      if (this.#sent.has(id)) continue;
      if (this.#tokens < 1 || !send(s.event)) break;
      this.#sent.add(id);
      this.#tokens--;
      count++;
    }
    return count;
  }

  #keep(s: Stored & { bytes: number }): void {
    this.#events.set(s.event.eventId, s);
    this.#bytes += s.bytes;
  }

  #forget(eventId: string): void {
    const s = this.#events.get(eventId);
    if (!s) return;
    rmSync(join(this.#dir, `${eventId}.json`), { force: true });
    this.#events.delete(eventId);
    this.#sent.delete(eventId);
    this.#bytes -= s.bytes;
  }
}
