import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyContent } from '@cordon/protocol';
import { startHarness, type Harness } from '../testing/harness.js';

// MDE's indicators API against a real server and store (SQLite, and PostgreSQL in the postgres project).
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const SHA256 = 'AB'.repeat(32);
const ip = (value: string, over: Record<string, unknown> = {}) => ({ IndicatorValue: value, IndicatorType: 'IpAddress', Action: 'Block', Title: `block ${value}`, ...over });
const submit = (body: unknown, token?: string) => h.call('POST', '/api/indicators', { body, token });
const list = async (query = '') => (await h.call('GET', `/api/indicators${query}`)).body;

/** The published indicators agents get: version and the entries in its bytes (verified against the server key). */
async function published(): Promise<{ version: number; values: string[]; entries: Record<string, unknown>[] } | null> {
  const latest = await h.server.services.content.latest('indicators', 'default');
  if (!latest) return null;
  const chunks: Buffer[] = [];
  for await (const c of (await h.server.services.content.bytes('indicators', 'default', latest.manifest.version))!.read(0)) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  expect(verifyContent(latest.signed, bytes, h.server.keys.signingPublicKeyPem, { kind: 'indicators', name: 'default' })).toMatchObject({ ok: true });
  const parsed = JSON.parse(bytes.toString('utf8')) as { format: string; indicators: Record<string, unknown>[] };
  expect(parsed.format).toBe('cordon-indicators/v1');
  return { version: latest.manifest.version, values: parsed.indicators.map((e) => e.value as string), entries: parsed.indicators };
}

describe('POST /api/indicators', () => {
  it('creates an indicator with MDE\'s shape (PascalCase body), every field present, and answers 200', async () => {
    const r = await submit({ IndicatorValue: SHA256, IndicatorType: 'FileSha256', Action: 'AlertAndBlock', Title: 'dropper', Severity: 'High', Description: '<b>seen</b> on web-01', Application: 'demo', RbacGroupNames: 'ops, web' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      id: expect.stringMatching(/^\d+$/),
      indicatorValue: SHA256.toLowerCase(),
      indicatorType: 'FileSha256',
      action: 'AlertAndBlock',
      application: 'demo',
      source: 'admin',
      sourceType: 'User',
      createdBySource: 'admin',
      createdBy: 'admin',
      title: 'dropper',
      description: '<b>seen</b> on web-01',
      recommendedActions: null,
      severity: 'High',
      category: null,
      mitreTechniques: [],
      rbacGroupNames: ['ops', 'web'],
      rbacGroupIds: [],
      educateUrl: null,
      generateAlert: true,
      creationTimeDateTimeUtc: '2026-11-25T10:00:00.000Z',
      expirationTime: null,
      lastUpdateTime: '2026-11-25T10:00:00.000Z',
      lastUpdatedBy: null,
      isExpired: false,
      enforcement: 'AlertOnly',
      enforcementNote: expect.stringMatching(/do not block files by hash/),
    });
    expect((await h.call('GET', `/api/indicators/${r.body.id}`)).body).toEqual(r.body);
    expect((await h.call('GET', `/api/v1.0/indicators/${r.body.id}`)).body).toEqual(r.body);
    expect((await h.server.services.audit.list(5, 0)).find((a) => a.action === 'CreateIndicator')).toMatchObject({ actor: 'admin', targetType: 'indicator', targetId: r.body.id, outcome: 'Succeeded', detail: { indicatorType: 'FileSha256', indicatorValue: SHA256.toLowerCase(), action: 'AlertAndBlock' } });
  });

  it('updates the indicator with the same type and value (whatever its case) instead of adding one', async () => {
    const first = (await submit({ indicatorValue: SHA256.toLowerCase(), indicatorType: 'FileSha256', action: 'Alert', title: 'first', application: 'kept' })).body;
    h.clock.advance(60_000);
    const second = await submit({ indicatorValue: SHA256, indicatorType: 'FileSha256', action: 'Block', title: 'second', severity: 'Low', application: 'ignored on update' }, h.tokens.responder);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.id, title: 'second', action: 'Block', severity: 'Low', application: 'kept', createdBy: 'admin', creationTimeDateTimeUtc: first.creationTimeDateTimeUtc, lastUpdatedBy: 'responder-user', lastUpdateTime: '2026-11-25T10:01:00.000Z' });
    expect((await list()).value).toHaveLength(1);
    // The same value as another type is another indicator.
    expect((await submit(ip('10.1.2.3'))).body.id).not.toBe(first.id);
    const audit = await h.server.services.audit.list(10, 0);
    expect(audit.find((a) => a.action === 'UpdateIndicator')).toMatchObject({ actor: 'responder-user', targetId: first.id, detail: { title: 'second', previous: { title: 'first', action: 'Alert' } } });
  });

  it('says what Linux agents do with each kind: IP blocks are enforced, domain and URL blocks are alert-only', async () => {
    expect((await submit(ip('203.0.113.7'))).body).toMatchObject({ enforcement: 'Block', enforcementNote: expect.stringMatching(/block connections/) });
    expect((await submit({ indicatorValue: 'Malware.Example.COM.', indicatorType: 'DomainName', action: 'Block', title: 't' })).body).toMatchObject({ indicatorValue: 'malware.example.com', enforcement: 'AlertOnly', enforcementNote: expect.stringMatching(/^Alert only on Linux: agents cannot block domain names/) });
    expect((await submit({ indicatorValue: 'https://evil.example/x', indicatorType: 'Url', action: 'BlockAndRemediate', title: 't' })).body).toMatchObject({ enforcement: 'AlertOnly', enforcementNote: expect.stringMatching(/cannot block URLs/) });
    expect((await submit({ indicatorValue: '2001:DB8:0:0::7', indicatorType: 'IpAddress', action: 'Allowed', title: 't' })).body).toMatchObject({ indicatorValue: '2001:db8::7', enforcement: 'None', generateAlert: false });
    expect((await submit(ip('198.51.100.1', { Action: 'Warn' }))).body).toMatchObject({ enforcement: 'AlertOnly', enforcementNote: expect.stringMatching(/cannot show a warning/) });
  });

  it.each([
    ['a SHA-256 of the wrong length', { IndicatorValue: 'ab'.repeat(31), IndicatorType: 'FileSha256' }, 'IndicatorValue', /not a SHA256 hash: give 64 hexadecimal/],
    ['a SHA-1 that is not hex', { IndicatorValue: 'z'.repeat(40), IndicatorType: 'FileSha1' }, 'IndicatorValue', /not a SHA1 hash: give 40/],
    ['an MD5 of a SHA-1\'s length', { IndicatorValue: 'a'.repeat(40), IndicatorType: 'FileMd5' }, 'IndicatorValue', /not a MD5 hash: give 32/],
    ['a CIDR range', { IndicatorValue: '10.0.0.0/8' }, 'IndicatorValue', /CIDR notation is not supported/],
    ['a loopback address', { IndicatorValue: '127.0.0.1' }, 'IndicatorValue', /loopback address, which every device needs/],
    ['the IPv6 loopback', { IndicatorValue: '::1' }, 'IndicatorValue', /loopback/],
    ['a mapped IPv4 loopback', { IndicatorValue: '::ffff:127.0.0.1' }, 'IndicatorValue', /loopback/],
    ['the unspecified address', { IndicatorValue: '0.0.0.0' }, 'IndicatorValue', /unspecified/],
    ['an address with leading zeros', { IndicatorValue: '010.1.2.3' }, 'IndicatorValue', /not an IPv4 or IPv6 address/],
    ['a domain with a path', { IndicatorValue: 'evil.example/x', IndicatorType: 'DomainName' }, 'IndicatorValue', /use the Url type/],
    ['an IP address as a domain', { IndicatorValue: '10.1.2.3', IndicatorType: 'DomainName' }, 'IndicatorValue', /use the IpAddress type/],
    ['a one-label domain', { IndicatorValue: 'localhost', IndicatorType: 'DomainName' }, 'IndicatorValue', /not a domain name/],
    ['an ftp URL', { IndicatorValue: 'ftp://evil.example/x', IndicatorType: 'Url' }, 'IndicatorValue', /give an http or https URL/],
    ['a URL that is not one', { IndicatorValue: 'evil dot example', IndicatorType: 'Url' }, 'IndicatorValue', /not a URL/],
    ['an expiration time in the past', { ExpirationTime: '2026-11-25T09:59:59Z' }, 'ExpirationTime', /has passed/],
    ['an expiration time that is not one', { ExpirationTime: 'tomorrow' }, 'ExpirationTime', /date and time/],
    ['an unknown action', { Action: 'Quarantine' }, 'Action', /one of Alert, AlertAndBlock, Allowed, Audit, Block, BlockAndRemediate, Warn/],
    ['an unknown severity', { Severity: 'Critical' }, 'Severity', /one of Informational, Low, Medium, High/],
    ['a certificate thumbprint', { IndicatorType: 'CertificateThumbprint' }, 'IndicatorType', /CertificateThumbprint is not supported/],
    ['no title', { Title: undefined }, 'Title', /is required/],
    ['no value', { IndicatorValue: undefined }, 'IndicatorValue', /is required/],
    ['an unknown field', { Colour: 'red' }, 'Colour', /not a known field/],
  ])('refuses %s with 400 naming the field, and stores nothing', async (_what, over, target, message) => {
    const r = await submit(ip('10.1.2.3', over));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ target, message: expect.stringMatching(message) });
    expect((await list()).value).toEqual([]);
    expect(await published()).toBeNull();
    expect((await h.server.services.audit.list(1, 0))[0]).toMatchObject({ action: 'SubmitIndicator', outcome: 'Refused', targetType: 'indicator' });
  });

  it('names a camelCase field as it was sent', async () => {
    const r = await submit({ indicatorValue: 'nope', indicatorType: 'FileMd5', action: 'Alert', title: 't' });
    expect(r.body.error.target).toBe('indicatorValue');
  });

  it('lets a responder write and a viewer or analyst only read (403)', async () => {
    const id = (await submit(ip('10.1.2.3'), h.tokens.responder)).body.id as string;
    for (const role of ['viewer', 'analyst'] as const) {
      const token = h.tokens[role];
      expect((await submit(ip('10.1.2.4'), token)).status).toBe(403);
      expect((await h.call('DELETE', `/api/indicators/${id}`, { token })).status).toBe(403);
      expect((await h.call('POST', '/api/indicators/BatchDelete', { token, body: { IndicatorIds: [id] } })).status).toBe(403);
      expect((await h.call('POST', '/api/indicators/import', { token, body: { Indicators: [ip('10.1.2.5')] } })).body.error).toMatchObject({ code: 'Forbidden' });
      expect((await h.call('GET', '/api/indicators', { token })).body.value).toHaveLength(1);
      expect((await h.call('GET', `/api/indicators/${id}`, { token })).status).toBe(200);
    }
    expect((await h.call('GET', '/api/indicators', { token: null })).status).toBe(401);
  });
});

describe('GET /api/indicators', () => {
  it('lists newest first and filters on indicatorValue with eq and in (a hash in capitals too), type, action and severity', async () => {
    await submit(ip('10.1.2.3'));
    await submit(ip('10.1.2.4', { Action: 'Alert', Severity: 'High' }));
    await submit({ IndicatorValue: SHA256, IndicatorType: 'FileSha256', Action: 'Block', Title: 'hash' });
    expect((await list()).value.map((i: { indicatorValue: string }) => i.indicatorValue)).toEqual([SHA256.toLowerCase(), '10.1.2.4', '10.1.2.3']);
    const values = async (filter: string) => (await list(`?$filter=${encodeURIComponent(filter)}`)).value.map((i: { indicatorValue: string }) => i.indicatorValue).sort();
    expect(await values("indicatorValue eq '10.1.2.3'")).toEqual(['10.1.2.3']);
    expect(await values(`indicatorValue eq '${SHA256}'`)).toEqual([SHA256.toLowerCase()]);
    expect(await values("indicatorValue in ('10.1.2.3','10.1.2.4','10.9.9.9')")).toEqual(['10.1.2.3', '10.1.2.4']);
    expect(await values("indicatorType eq 'FileSha256'")).toEqual([SHA256.toLowerCase()]);
    expect(await values("action eq 'Block' and severity eq 'Informational'")).toEqual(['10.1.2.3', SHA256.toLowerCase()].sort());
    expect(await values("createdBy eq 'admin' and generateAlert eq true")).toEqual(['10.1.2.4']);
    // $filter as MDE clients encode it, with paging and a count.
    const page = (await h.call('GET', '/api/indicators?%24filter=indicatorType+eq+%27IpAddress%27&$top=1&$skip=1&$count=true')).body;
    expect(page).toMatchObject({ '@odata.context': '/api/$metadata#Indicators', '@odata.count': 2, value: [{ indicatorValue: '10.1.2.3' }] });
    const bad = await h.call('GET', `/api/indicators?$filter=${encodeURIComponent("colour eq 'red'")}`);
    expect(bad.body.error).toMatchObject({ code: 'InvalidInput', target: '$filter', message: expect.stringMatching(/filterable fields are indicatorValue, indicatorType/) });
  });

  it('answers 404 for an indicator that does not exist', async () => {
    for (const id of ['999', 'not-a-number']) {
      expect((await h.call('GET', `/api/indicators/${id}`)).body.error).toMatchObject({ code: 'ResourceNotFound', target: 'id' });
      expect((await h.call('DELETE', `/api/indicators/${id}`)).status).toBe(404);
    }
  });

  it('takes an expiration time with an offset (stored in UTC) and says once it has passed', async () => {
    const id = (await submit(ip('10.1.2.3', { ExpirationTime: '2026-11-25T12:00:00+01:00' }))).body.id as string;
    expect((await h.call('GET', `/api/indicators/${id}`)).body).toMatchObject({ expirationTime: '2026-11-25T11:00:00.000Z', isExpired: false });
    h.clock.advance(3600_000);
    expect((await h.call('GET', `/api/indicators/${id}`)).body).toMatchObject({ isExpired: true });
    expect((await list(`?$filter=${encodeURIComponent('expirationTime gt 2026-11-25T11:00:00Z')}`)).value).toEqual([]);
  });
});

describe('deleting indicators', () => {
  it('deletes one (204), audited', async () => {
    const id = (await submit(ip('10.1.2.3'))).body.id as string;
    const r = await h.call('DELETE', `/api/indicators/${id}`);
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    expect((await h.call('GET', `/api/indicators/${id}`)).status).toBe(404);
    expect((await h.server.services.audit.list(5, 0)).find((a) => a.action === 'DeleteIndicator')).toMatchObject({ actor: 'admin', targetId: id, outcome: 'Succeeded', detail: { indicatorValue: '10.1.2.3' } });
  });

  it('BatchDelete deletes all it names, or nothing when one does not exist (404) or is not an id (400)', async () => {
    const ids: string[] = [];
    for (const v of ['10.1.2.3', '10.1.2.4', '10.1.2.5']) ids.push((await submit(ip(v))).body.id as string);
    const missing = await h.call('POST', '/api/indicators/BatchDelete', { body: { IndicatorIds: [ids[0], '999'] } });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'ResourceNotFound', message: 'Indicator 999 was not found' });
    const bad = await h.call('POST', '/api/indicators/BatchDelete', { body: { IndicatorIds: [ids[0], 'x1'] } });
    expect(bad.body.error).toMatchObject({ code: 'InvalidRequestBody', target: 'IndicatorIds.1' });
    expect((await h.call('POST', '/api/indicators/BatchDelete', { body: { IndicatorIds: [] } })).body.error.target).toBe('IndicatorIds');
    expect((await list()).value).toHaveLength(3);

    const r = await h.call('POST', '/api/indicators/BatchDelete', { body: { IndicatorIds: [ids[0], Number(ids[1])] } });
    expect(r.status).toBe(204);
    expect((await list()).value.map((i: { id: string }) => i.id)).toEqual([ids[2]]);
    expect((await h.server.services.audit.list(5, 0)).find((a) => a.action === 'DeleteIndicators')).toMatchObject({ outcome: 'Succeeded', detail: { count: 2, indicators: [{ id: ids[0] }, { id: ids[1] }] } });
  });
});

describe('POST /api/indicators/import', () => {
  it('creates and updates up to 500 indicators, answering MDE\'s per-item results', async () => {
    const existing = (await submit(ip('10.1.2.3', { Title: 'old' }))).body.id as string;
    const r = await h.call('POST', '/api/indicators/import', {
      body: { Indicators: [ip('10.1.2.3', { Title: 'new' }), { indicatorValue: SHA256, indicatorType: 'FileSha256', action: 'Alert', title: 'camel', expirationTime: '2026-12-12T00:00:00Z' }] },
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      value: [
        { id: existing, indicator: '10.1.2.3', isFailed: false, failureReason: null },
        { id: expect.stringMatching(/^\d+$/), indicator: SHA256.toLowerCase(), isFailed: false, failureReason: null },
      ],
    });
    expect((await h.call('GET', `/api/indicators/${existing}`)).body.title).toBe('new');
    expect((await h.server.services.audit.list(5, 0)).find((a) => a.action === 'ImportIndicators')).toMatchObject({ outcome: 'Succeeded', detail: { count: 2, indicators: [{ id: existing, change: 'Updated' }, { change: 'Created' }] } });
  });

  it('refuses the whole import when one item is bad, naming the item and field, and changes nothing', async () => {
    await submit(ip('10.1.2.3', { Title: 'old' }));
    const before = await published();
    const r = await h.call('POST', '/api/indicators/import', { body: { Indicators: [ip('10.1.2.3', { Title: 'new' }), ip('10.1.2.4'), ip('10.1.2.300')] } });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'InvalidRequestBody', target: 'Indicators.2.IndicatorValue', message: expect.stringMatching(/^Indicators\.2\.IndicatorValue: '10\.1\.2\.300' is not an IPv4 or IPv6 address/) });
    expect((await list()).value.map((i: { title: string }) => i.title)).toEqual(['old']);
    expect(await published()).toEqual(before);
    const unknown = await h.call('POST', '/api/indicators/import', { body: { Indicators: [{ ...ip('10.1.2.5'), indicatorValue: '10.1.2.5' }] } });
    expect(unknown.body.error).toMatchObject({ target: 'Indicators.0.indicatorValue', message: expect.stringMatching(/given twice/) });
    const tooMany = await h.call('POST', '/api/indicators/import', { body: { Indicators: Array.from({ length: 501 }, (_, i) => ip(`10.2.${i >> 8}.${i & 255}`)) } });
    expect(tooMany.body.error).toMatchObject({ target: 'Indicators', message: expect.stringMatching(/at most 500/) });
    expect((await h.call('POST', '/api/indicators/import', { body: { Indicators: [42] } })).body.error.target).toBe('Indicators.0');
  });
});

describe('the indicators agents are sent', () => {
  it('are published after every change as a new signed version listing exactly the indicators in force', async () => {
    expect(await published()).toBeNull();
    const a = (await submit(ip('10.1.2.3', { ExpirationTime: '2026-11-25T10:05:00Z' }))).body;
    expect(await published()).toMatchObject({ version: 1, values: ['10.1.2.3'] });
    expect((await published())!.entries[0]).toEqual({ id: a.id, value: '10.1.2.3', type: 'IpAddress', action: 'Block', severity: 'Informational', title: 'block 10.1.2.3', generateAlert: false, expirationTime: '2026-11-25T10:05:00.000Z' });
    const b = (await submit({ IndicatorValue: SHA256, IndicatorType: 'FileSha256', Action: 'Alert', Title: 'hash' })).body;
    expect(await published()).toMatchObject({ version: 2, values: ['10.1.2.3', SHA256.toLowerCase()] });
    // A change agents do not see (the description) publishes nothing new.
    await submit({ IndicatorValue: SHA256, IndicatorType: 'FileSha256', Action: 'Alert', Title: 'hash', Description: 'more words' });
    expect((await published())!.version).toBe(2);
    await h.call('DELETE', `/api/indicators/${b.id}`);
    expect(await published()).toMatchObject({ version: 3, values: ['10.1.2.3'] });

    // Past its expiration time, the periodic check publishes a set without it, once.
    h.clock.advance(4 * 60_000);
    expect(await h.server.services.indicators.publishExpired()).toBeNull();
    h.clock.advance(60_000);
    expect(await h.server.services.indicators.publishExpired()).toBe(4);
    expect(await published()).toMatchObject({ version: 4, values: [] });
    expect(await h.server.services.indicators.publishExpired()).toBeNull();
    expect((await h.call('GET', `/api/indicators/${a.id}`)).body).toMatchObject({ isExpired: true });
    const audit = (await h.server.services.audit.list(20, 0)).filter((r) => r.action === 'PublishContent');
    expect(audit.map((r) => [r.actor, (r.detail as { version: number }).version])).toEqual([['system', 4], ['admin', 3], ['admin', 2], ['admin', 1]]);
  });
});
