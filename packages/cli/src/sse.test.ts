import { describe, expect, it } from 'vitest';
import { sseEvents } from './sse.js';

/** A body delivered in the given pieces, split wherever the test says (mid-line, mid-character). */
function body(...pieces: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of pieces) c.enqueue(typeof p === 'string' ? new TextEncoder().encode(p) : p);
      c.close();
    },
  });
}

async function all(b: ReadableStream<Uint8Array>) {
  const out = [];
  for await (const e of sseEvents(b)) out.push(e);
  return out;
}

describe('sseEvents', () => {
  it('reads events split anywhere, with \\n, \\r\\n or \\r line ends, comments and several data lines', async () => {
    const euro = new TextEncoder().encode('€');
    const events = await all(
      body('retry: 2000\n\n: ping\n\nevent: out', 'put\ndata: {"seq":1,"text":"a', euro.slice(0, 1), euro.slice(1), '"}\n', '\nevent: done\r', '\ndata: one\r\ndata:two\r\r', 'data: plain\n\nevent: cut\ndata: never ended'),
    );
    expect(events).toEqual([
      { event: 'output', data: '{"seq":1,"text":"a€"}' },
      { event: 'done', data: 'one\ntwo' },
      { event: 'message', data: 'plain' },
    ]);
  });
});
