import { afterEach, describe, expect, it } from 'vitest';
import { isUniqueViolation } from '../db/portable.js';
import { openTestStore, STORES } from '../testing/stores.js';
import { IndicatorsRepository, type NewIndicatorRow } from './indicators.repository.js';

/** The indicators table and its queries, the same on SQLite and PostgreSQL. */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const T = '2026-11-25T10:00:00.000Z';
const row = (value: string, over: Partial<NewIndicatorRow> = {}): NewIndicatorRow => ({
  indicator_type: 'IpAddress', indicator_value: value, action: 'Block', severity: 'High', title: value, description: null, recommended_actions: null, application: null, category: null,
  mitre_techniques: '[]', rbac_group_names: '[]', educate_url: null, generate_alert: 0, source: 'admin', source_type: 'User', created_by: 'admin', created_at: T,
  expiration_time: null, last_update_time: T, last_updated_by: null, ...over,
});

describe.each(STORES)('indicators repository (%s)', (kind) => {
  async function repo(): Promise<IndicatorsRepository> {
    const s = await openTestStore(kind);
    closers.push(s.close);
    return new IndicatorsRepository(s.db);
  }

  it('keeps one indicator per type and value, with numeric ids', async () => {
    const r = await repo();
    const a = await r.insert(row('10.1.2.3'));
    expect(typeof a.id).toBe('number');
    expect(await r.insert(row('10.1.2.3')).catch((e: unknown) => isUniqueViolation(e))).toBe(true);
    expect((await r.insert(row('10.1.2.3', { indicator_type: 'DomainName' }))).id).toBeGreaterThan(a.id);
    expect((await r.byValue('IpAddress', '10.1.2.3'))?.id).toBe(a.id);
  });

  it('answers the indicators in force at a time (expiring exactly then: no longer), by id', async () => {
    const r = await repo();
    await r.insert(row('10.0.0.2', { expiration_time: '2026-11-25T11:00:00.000Z' }));
    await r.insert(row('10.0.0.1'));
    await r.insert(row('10.0.0.3', { expiration_time: '2026-11-25T12:00:00.000Z' }));
    expect((await r.active('2026-11-25T10:59:59.999Z')).map((x) => x.indicator_value)).toEqual(['10.0.0.2', '10.0.0.1', '10.0.0.3']);
    expect((await r.active('2026-11-25T11:00:00.000Z')).map((x) => x.indicator_value)).toEqual(['10.0.0.1', '10.0.0.3']);
  });

  it('filters a page on the value in any case, on generateAlert, and counts', async () => {
    const r = await repo();
    await r.insert(row('ab'.repeat(32), { indicator_type: 'FileSha256', generate_alert: 1 }));
    await r.insert(row('10.0.0.1'));
    const page = await r.page({ filter: `indicatorValue in ('${'AB'.repeat(32)}','10.9.9.9')`, top: 10, skip: 0, count: true });
    expect([page.count, page.rows.map((x) => x.indicator_type)]).toEqual([1, ['FileSha256']]);
    expect((await r.page({ filter: 'generateAlert eq false', top: 10, skip: 0 })).rows.map((x) => x.indicator_value)).toEqual(['10.0.0.1']);
    expect((await r.page({ filter: "indicatorValue ne '10.0.0.1'", top: 10, skip: 0 })).rows).toHaveLength(1);
    expect(await r.delete([(await r.byValue('IpAddress', '10.0.0.1'))!.id, 12345])).toBe(1);
  });
});
