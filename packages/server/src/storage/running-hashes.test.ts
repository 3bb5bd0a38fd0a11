import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkMatches, RunningHashes } from './running-hashes.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('RunningHashes', () => {
  const a = Buffer.from('first chunk;');
  const b = Buffer.from('second chunk');

  it('answers the whole upload’s SHA-256 when every chunk was seen in order, once', () => {
    const h = new RunningHashes();
    h.stored('x', 0, a);
    h.stored('x', a.length, b);
    expect(h.take('x', a.length + b.length)).toBe(sha(Buffer.concat([a, b])));
    expect(h.take('x', a.length + b.length)).toBeUndefined();
  });

  it('loses the thread on a gap, a size that differs, or an upload that started elsewhere', () => {
    const h = new RunningHashes();
    h.stored('gap', 0, a);
    h.stored('gap', a.length + 1, b);
    expect(h.take('gap', a.length + 1 + b.length)).toBeUndefined();
    h.stored('short', 0, a);
    expect(h.take('short', a.length + b.length)).toBeUndefined();
    // Its first chunk went to another node: nothing to answer from here.
    h.stored('elsewhere', a.length, b);
    expect(h.take('elsewhere', a.length + b.length)).toBeUndefined();
  });

  it('starts over when an upload is sent again from its start', () => {
    const h = new RunningHashes();
    h.stored('x', 0, a);
    h.stored('x', 0, b);
    expect(h.take('x', b.length)).toBe(sha(b));
  });

  it('checks a chunk against its hex SHA-256 in any case', () => {
    expect(chunkMatches(a, sha(a).toUpperCase())).toBe(true);
    expect(chunkMatches(a, sha(b))).toBe(false);
  });
});
