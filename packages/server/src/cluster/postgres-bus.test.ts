import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openPostgres } from '../db/database.js';
import { createMetrics } from '../metrics.js';
import { createTestDatabase, dropTestDatabase } from '../testing/stores.js';
import type { BusMessage } from './bus.js';
import { PostgresBus } from './postgres-bus.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('the PostgreSQL bus', () => {
  it('delivers messages in the order they were published, however they were batched', async () => {
    const url = await createTestDatabase('bus');
    const db = await openPostgres(url);
    closers.push(async () => (await db.destroy(), await dropTestDatabase(url)));
    const logger = pino({ level: 'silent' });
    const sender = new PostgresBus('sender', url, db, createMetrics(), logger);
    const receiver = new PostgresBus('receiver', url, db, createMetrics(), logger);
    closers.push(() => sender.close(), () => receiver.close());
    const got: number[] = [];
    receiver.subscribe((m: BusMessage) => {
      if (m.topic === 'liveLine') got.push(m.seq);
    });
    await receiver.start();
    await sender.start();
    // Publishes arrive while earlier flushes are still on their way (as lines typed quickly are).
    const sent: Promise<void>[] = [];
    for (let seq = 1; seq <= 300; seq++) {
      sent.push(sender.publish([{ topic: 'liveLine', machineId: 'm', sessionId: 's', seq }]));
      if (seq % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(sent);
    await vi.waitFor(() => expect(got).toHaveLength(300), { timeout: 10_000, interval: 20 });
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });
});
