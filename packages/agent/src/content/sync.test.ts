import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ContentKind, ContentManifest } from '@cordon/protocol';
import { IndicatorSet } from './indicators.js';
import type { ContentUpdate } from './store.js';
import { ContentSync } from './sync.js';

const manifest = (kind: ContentKind, version: number) => ({ kind, name: 'default', version }) as ContentManifest;

/** A store holding versions by kind; an update installs what `server` publishes, or answers what `outcome` says. */
function fakeStore(have: Partial<Record<ContentKind, number>>, server: Partial<Record<ContentKind, number>>, outcome?: (kind: ContentKind) => ContentUpdate | Error) {
  const updates: string[] = [];
  return {
    updates,
    current: (kind: ContentKind) => (have[kind] ? manifest(kind, have[kind]) : null),
    update: async (kind: ContentKind, name: string): Promise<ContentUpdate> => {
      updates.push(`${kind}/${name}`);
      const o = outcome?.(kind);
      if (o instanceof Error) throw o;
      if (o) return o;
      have[kind] = server[kind];
      return { status: 'installed', manifest: manifest(kind, server[kind]!), resumedFrom: 0 };
    },
    load: () => null,
  };
}

describe('ContentSync.catchUp (analyze names the versions the server published)', () => {
  it('fetches only what is older than named, and answers nothing behind once installed', async () => {
    const store = fakeStore({ indicators: 4, rulepack: 2 }, { indicators: 4, rulepack: 3 });
    const sync = new ContentSync(store, new IndicatorSet(store), pino({ level: 'silent' }));
    expect(await sync.catchUp([{ kind: 'indicators', name: 'default', version: 4 }, { kind: 'rulepack', name: 'default', version: 3 }])).toEqual([]);
    expect(store.updates).toEqual(['rulepack/default']);
  });

  it('says what is still behind, and why: refused, interrupted, the server unreachable', async () => {
    const refused: ContentUpdate = { status: 'refused', reason: 'DigestMismatch', detail: 'the bytes are not the signed ones', kept: manifest('rulepack', 2) };
    const store = fakeStore({ rulepack: 2 }, {}, (kind) => (kind === 'rulepack' ? refused : new Error('connection refused')));
    const sync = new ContentSync(store, new IndicatorSet(store), pino({ level: 'silent' }));
    expect(await sync.catchUp([{ kind: 'rulepack', name: 'default', version: 3 }, { kind: 'indicators', name: 'default', version: 1 }, { kind: 'script', name: 'lib-x', version: 9 }])).toEqual([
      { kind: 'rulepack', name: 'default', version: 3, have: 2, problem: 'refused (DigestMismatch): the bytes are not the signed ones' },
      { kind: 'indicators', name: 'default', version: 1, have: null, problem: 'the server could not be asked for it' },
    ]);
    // Scripts are not scan content: never fetched here.
    expect(store.updates).toEqual(['rulepack/default', 'indicators/default']);
    const cut = fakeStore({}, {}, () => ({ status: 'interrupted', manifest: manifest('rulepack', 3), received: 10, detail: 'reset' }));
    expect(await new ContentSync(cut, new IndicatorSet(cut), pino({ level: 'silent' })).catchUp([{ kind: 'rulepack', name: 'default', version: 3 }])).toEqual([
      { kind: 'rulepack', name: 'default', version: 3, have: null, problem: 'its download stopped after 10 bytes: reset' },
    ]);
  });
});
