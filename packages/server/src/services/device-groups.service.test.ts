import { describe, expect, it } from 'vitest';
import type { DeviceGroupRow } from '../repositories/device-groups.repository.js';
import { groupOf, rankedGroups } from './device-groups.service.js';

const row = (id: number, rank: number, tag: string, shell = 0): DeviceGroupRow => ({
  id,
  name: `g${id}`,
  name_key: `g${id}`,
  description: null,
  rank,
  rule: JSON.stringify({ tag }),
  live_response_shell: shell,
  created_by: 'a',
  created_at: 't',
  updated_by: 'a',
  updated_at: 't',
});

// Stored out of rank order on purpose: membership must follow the rank, not the row order.
const groups = rankedGroups([row(1, 5, 'Web', 1), row(2, 1, 'db'), row(3, 2, 'LAB')]);

describe('device group membership', () => {
  it.each([
    ['no tags', [], null],
    ['a tag no group has', ['other'], null],
    ['the tag in another case', ['WEB'], 'g1'],
    ['two matching groups: the higher-ranked one', ['web', 'db'], 'g2'],
    ['rank 2 over rank 5', ['Web', 'lab'], 'g3'],
    ['a tag that only contains a group tag', ['webserver'], null],
  ] as const)('%s', (_what, tags, want) => {
    expect(groupOf(groups, tags)?.name ?? null).toBe(want);
  });

  it('reads the shell setting and orders by rank', () => {
    expect(groups.map((g) => [g.name, g.liveResponseShell])).toEqual([['g2', false], ['g3', false], ['g1', true]]);
    expect(groupOf([], ['web'])).toBeNull();
  });
});
