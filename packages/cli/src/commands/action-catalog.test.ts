import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION_CATALOG, defineAction } from '@cordon/protocol';
import { startHarness, type Harness } from '@cordon/server/testing';
import { buildProgram } from '../main.js';

// An action nobody wrote code for, declared only in the catalog: everything derived from the
// catalog must offer it with no other edit.
const Depth = z.enum(['Shallow', 'Deep']);
const wipeCaches = defineAction({
  type: 'WipeCaches',
  label: 'Wipe caches',
  path: 'wipeCaches',
  body: { depth: Depth, keepMb: z.number().int().min(1).max(512).optional() },
  parameters: z.strictObject({ depth: Depth, keepMb: z.number().optional() }),
  option: { field: 'depth', label: 'Depth', values: Depth.options, default: 'Shallow', item: '{value} wipe', isScope: true, describe: { Shallow: 'Wipes the caches of {device}.', Deep: 'Wipes every cache of {device}.' } },
  extras: [{ field: 'keepMb', label: 'Keep (MB)', describe: 'How much of each cache to keep, 1 to 512 MB', min: 1, max: 512, flag: 'keep-mb' }],
  capability: 'cacheWipe',
  minAgentVersion: '0.3.0',
  permission: 'actions.submit',
  busy: 'Caches are already being wiped on this device',
  barPosition: 45,
  cli: { verb: 'wipe-caches', summary: "wipe a machine's caches" },
});
const catalog = ACTION_CATALOG.with(wipeCaches);

let h: Harness;
let machineId: string;
beforeAll(async () => {
  h = await startHarness({}, { catalog });
  machineId = await h.enroll({ hostname: 'cache-01' });
});
afterAll(async () => h.close());

describe('an action added to the catalog alone', () => {
  it('gets its route, with its body validated and its capability required', async () => {
    const bad = await h.call('POST', `/api/machines/${machineId}/wipeCaches`, { body: { Comment: 'x', Depth: 'Medium' } });
    expect([bad.status, bad.body.error.target]).toEqual([400, 'Depth']);
    const r = await h.call('POST', `/api/machines/${machineId}/wipeCaches`, { body: { Comment: 'x', Depth: 'Deep' } });
    expect([r.status, r.body.error.code]).toEqual([400, 'NotSupported']);
    expect(r.body.error.message).toBe("Wipe caches: this device's agent (0.1.0) is too old; it needs 0.3.0 or later");
    expect((await h.call('POST', `/api/machines/${machineId}/wipeCaches`, { token: h.tokens.viewer, body: { Comment: 'x', Depth: 'Deep' } })).status).toBe(403);
  });

  it('is in the OpenAPI document and the list of action types', async () => {
    const doc = await h.call('GET', '/api/openapi.json');
    expect(doc.body.paths['/api/machines/{id}/wipeCaches']?.post?.summary).toBe('Wipe caches (WipeCaches)');
    const types = await h.call('GET', '/api/actionTypes', { token: h.tokens.viewer });
    expect(types.body.value).toContainEqual(
      expect.objectContaining({ type: 'WipeCaches', label: 'Wipe caches', path: '/api/machines/{id}/wipeCaches', option: expect.objectContaining({ values: ['Shallow', 'Deep'] }), extras: [{ field: 'keepMb', label: 'Keep (MB)', describe: 'How much of each cache to keep, 1 to 512 MB', min: 1, max: 512 }], cancelWhileRunning: false }),
    );
  });

  it('is on the action bar in its place, unavailable with the reason', async () => {
    const r = await h.call('GET', `/api/machines/${machineId}/responseActions`);
    const names = r.body.value.map((a: { action: string }) => a.action);
    expect(names.indexOf('WipeCaches')).toBe(names.indexOf('CollectInvestigationPackage') + 1);
    const entry = r.body.value.find((a: { action: string }) => a.action === 'WipeCaches');
    expect(entry).toMatchObject({ label: 'Wipe caches', available: false, path: '/api/machines/{id}/wipeCaches' });
    expect(entry.reason).toBe("Wipe caches: this device's agent (0.1.0) is too old; it needs 0.3.0 or later");
  });

  it('has its CLI command, with its option', () => {
    const program = buildProgram(catalog);
    expect(program.helpInformation()).toMatch(/wipe-caches \[options\] <machine>\s+wipe a machine's caches/);
    const verb = program.commands.find((c) => c.name() === 'wipe-caches')!;
    expect(verb.helpInformation()).toContain('--type <type>');
    expect(verb.helpInformation()).toContain('"Shallow", "Deep"');
    expect(verb.helpInformation()).toContain('--keep-mb <n>');
    expect(buildProgram().commands.some((c) => c.name() === 'wipe-caches')).toBe(false);
  });
});

describe('an extra the catalog declares', () => {
  it('must be optional: leaving it out keeps the default', () => {
    expect(() => catalog.with({ ...wipeCaches, type: 'WipeMore', extras: [{ ...wipeCaches.extras![0]!, field: 'depth' }] })).toThrow("WipeMore: its extra 'depth' must be an optional body field");
    expect(() => catalog.with({ ...wipeCaches, type: 'WipeMore', extras: [{ ...wipeCaches.extras![0]!, field: 'nothing' }] })).toThrow("WipeMore: its extra 'nothing' must be an optional body field");
  });
});
