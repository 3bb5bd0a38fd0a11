import type { Logger } from 'pino';
import type pg from 'pg';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Metrics } from '../metrics.js';
import type { BusMessage, ClusterBus } from './bus.js';

const CHANNEL = 'cordon_bus';
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well below. */
const MAX_PAYLOAD = 7000;
/** Deliveries per message: a machine id and an action id take about 90 bytes of JSON. */
const DELIVERIES_PER_MESSAGE = 60;

interface Envelope {
  /** The sending node. */
  n: string;
  /** When it was sent (ms since the epoch): the receiver's notify lag. */
  t: number;
  m: BusMessage[];
}

/**
 * The cluster bus on PostgreSQL: NOTIFY through the store's pool, LISTEN on a connection of its
 * own that reconnects by itself (with backoff) and then runs the resync handlers, since
 * notifications sent while it was away are lost. Messages published in the same tick go out
 * together, packed into as few notifications as fit.
 */
export class PostgresBus implements ClusterBus {
  readonly #handlers: ((m: BusMessage) => void)[] = [];
  readonly #resync: (() => Promise<void>)[] = [];
  #listener: pg.Client | null = null;
  #closed = false;
  #retryMs = 250;
  #pending: { messages: BusMessage[]; done: () => void; failed: (e: unknown) => void }[] = [];
  /** The flush to come (messages gather until it runs), and the last one started. */
  #flushing: Promise<void> | null = null;
  #lastFlush: Promise<void> = Promise.resolve();

  constructor(
    readonly nodeId: string,
    private readonly url: string,
    private readonly db: Db,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  subscribe(handler: (message: BusMessage) => void): void {
    this.#handlers.push(handler);
  }

  onResync(handler: () => Promise<void>): void {
    this.#resync.push(handler);
  }

  async start(): Promise<void> {
    await this.#listen();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    await this.#lastFlush;
    const l = this.#listener;
    this.#listener = null;
    await l?.end().catch(() => {});
  }

  publish(messages: BusMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return new Promise((done, failed) => {
      this.#pending.push({ messages, done, failed });
      // One flush at a time, in order: two NOTIFYs in flight on different pool connections could be
      // delivered in either order, and a node relaying live-response lines must see them in order.
      this.#flushing ??= (this.#lastFlush = this.#lastFlush.then(() => new Promise<void>((r) => setImmediate(r))).then(() => this.#flush()));
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing = null;
    try {
      const payloads = pack(this.nodeId, batch.flatMap((b) => b.messages));
      for (let i = 0; i < payloads.length; i += 100) {
        await sql`select pg_notify(${CHANNEL}, p) from unnest(${payloads.slice(i, i + 100)}::text[]) as p`.execute(this.db);
      }
      this.metrics.busMessagesSent.inc(payloads.length);
      for (const b of batch) b.done();
    } catch (e) {
      for (const b of batch) b.failed(e);
    }
  }

  async #listen(): Promise<void> {
    const { default: driver } = await import('pg');
    const client = new driver.Client({ connectionString: this.url });
    client.on('error', () => {});
    client.on('end', () => {
      if (this.#listener !== client || this.#closed) return;
      this.#listener = null;
      this.logger.warn('lost the store connection that listens for other nodes; reconnecting');
      this.#reconnect();
    });
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      let env: Envelope;
      try {
        env = JSON.parse(n.payload) as Envelope;
      } catch {
        return;
      }
      if (env.n === this.nodeId) return;
      this.metrics.notifyLag.observe(Math.max(0, Date.now() - env.t) / 1000);
      for (const m of env.m) for (const h of this.#handlers) h(m);
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.#listener = client;
    this.#retryMs = 250;
  }

  #reconnect(): void {
    if (this.#closed) return;
    const wait = this.#retryMs * (0.5 + Math.random());
    this.#retryMs = Math.min(this.#retryMs * 2, 5000);
    setTimeout(() => {
      void this.#listen().then(
        () => this.#afterReconnect(),
        () => this.#reconnect(),
      );
    }, wait).unref();
  }

  async #afterReconnect(): Promise<void> {
    this.logger.info('listening for other nodes again; catching up from the store');
    for (const h of this.#resync) await h().catch((err: unknown) => this.logger.error({ err }, 'catching up after the bus reconnected failed'));
  }
}

/** Messages packed into NOTIFY payloads below the size limit; long delivery lists are split first. */
export function pack(nodeId: string, messages: BusMessage[]): string[] {
  const split: BusMessage[] = [];
  for (const m of messages) {
    if (m.topic === 'deliver' && m.items.length > DELIVERIES_PER_MESSAGE) {
      for (let i = 0; i < m.items.length; i += DELIVERIES_PER_MESSAGE) split.push({ topic: 'deliver', items: m.items.slice(i, i + DELIVERIES_PER_MESSAGE) });
    } else split.push(m);
  }
  const t = Date.now();
  const payloads: string[] = [];
  let current: BusMessage[] = [];
  let size = 0;
  const emit = () => {
    if (current.length) payloads.push(JSON.stringify({ n: nodeId, t, m: current } satisfies Envelope));
    current = [];
    size = 0;
  };
  for (const m of split) {
    const bytes = Buffer.byteLength(JSON.stringify(m));
    if (bytes > MAX_PAYLOAD - 100) continue; // cannot be sent; the store has it and resync finds it
    if (size + bytes > MAX_PAYLOAD - 100) emit();
    current.push(m);
    size += bytes + 1;
  }
  emit();
  return payloads;
}
