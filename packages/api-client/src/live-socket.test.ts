import { describe, expect, it, vi } from 'vitest';
import { ApiRequestError } from './index.js';
import { LiveSocket, type SocketLike } from './live-socket.js';

/** A socket the test drives: what the client sent, and the server's side (open, answer, close). */
class FakeSocket implements SocketLike {
  readyState = 0;
  readonly sent: Record<string, unknown>[] = [];
  readonly #listeners = new Map<string, ((e: never) => void)[]>();
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#emit('close', { code, reason });
  }
  addEventListener(type: string, listener: (e: never) => void): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }
  open(): void {
    this.readyState = 1;
    this.#emit('open', {});
  }
  receive(message: object): void {
    this.#emit('message', { data: JSON.stringify(message) });
  }
  #emit(type: string, e: object): void {
    for (const l of this.#listeners.get(type) ?? []) l(e as never);
  }
}

function setup(probe: () => Promise<unknown> = () => Promise.resolve()) {
  const sockets: FakeSocket[] = [];
  const events: [string, unknown][] = [];
  const gone: ApiRequestError[] = [];
  let opens = 0;
  const live = new LiveSocket({
    connect: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    onOpen: () => opens++,
    onEvent: (type, data) => events.push([type, data]),
    onGone: (e) => gone.push(e),
    probe,
    reconnectMs: 1,
  });
  return { live, sockets, events, gone, opens: () => opens };
}

describe('LiveSocket', () => {
  it('sends what was asked while connecting once open, and answers each request by its ref', async () => {
    const { live, sockets, events } = setup();
    const ran = live.run('ls /tmp');
    const typed = live.input(3, { data: 'ls\r' });
    sockets[0]!.open();
    const cancelled = live.cancel(3);
    expect(sockets[0]!.sent).toEqual([
      { type: 'line', line: 'ls /tmp', ref: 1 },
      { type: 'input', seq: 3, data: 'ls\r', ref: 2 },
      { type: 'cancel', seq: 3, ref: 3 },
    ]);
    sockets[0]!.receive({ type: 'output', data: { seq: 1, text: 'a\n' } });
    sockets[0]!.receive({ type: 'accepted', ref: 2, input: { chunk: 1 } });
    sockets[0]!.receive({ type: 'accepted', ref: 1, command: { seq: 1 } });
    sockets[0]!.receive({ type: 'error', ref: 3, status: 409, error: { code: 'CommandNotRunning', message: 'Line 3 is not running', target: '3' } });
    expect(await ran).toEqual({ seq: 1 });
    expect(await typed).toEqual({ chunk: 1 });
    const refused = await cancelled.catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiRequestError);
    expect(refused).toMatchObject({ status: 409, code: 'CommandNotRunning', message: 'Line 3 is not running' });
    expect(events).toEqual([['output', { seq: 1, text: 'a\n' }]]);
    live.close();
  });

  it('fails what a dropped connection left unanswered, and reconnects (onOpen again: the events replay)', async () => {
    const { live, sockets, events, opens } = setup();
    sockets[0]!.open();
    const ran = live.run('pwd');
    sockets[0]!.close(1011, 'Following the session failed');
    await expect(ran).rejects.toMatchObject({ status: 0, code: 'Unreachable' });
    await vi.waitFor(() => expect(sockets).toHaveLength(2));
    sockets[1]!.open();
    sockets[1]!.receive({ type: 'state', data: { state: 'Active' } });
    expect(opens()).toBe(2);
    expect(events).toEqual([['state', { state: 'Active' }]]);
    live.close();
  });

  it('gives up on 4404 and 4401, failing what waits, and never reconnects', async () => {
    for (const [code, status] of [
      [4404, 404],
      [4401, 401],
    ] as const) {
      const { live, sockets, gone } = setup();
      sockets[0]!.open();
      const ran = live.run('pwd');
      sockets[0]!.close(code, 'gone');
      await expect(ran).rejects.toMatchObject({ status });
      expect(gone.map((e) => [e.status, e.message])).toEqual([[status, 'gone']]);
      await new Promise((r) => setTimeout(r, 20));
      expect(sockets).toHaveLength(1);
      await expect(live.run('pwd')).rejects.toMatchObject({ status: 0 });
    }
  });

  it('after a connection that never opened, gives up if the API refuses the session, else tries again', async () => {
    const refused = setup(() => Promise.reject(new ApiRequestError(404, 'ResourceNotFound', 'No live-response session abc')));
    refused.sockets[0]!.close(1006);
    await vi.waitFor(() => expect(refused.gone.map((e) => e.message)).toEqual(['No live-response session abc']));
    expect(refused.sockets).toHaveLength(1);

    const unreachable = setup(() => Promise.reject(new ApiRequestError(0, 'Unreachable', 'cannot reach')));
    unreachable.sockets[0]!.close(1006);
    await vi.waitFor(() => expect(unreachable.sockets).toHaveLength(2));
    expect(unreachable.gone).toEqual([]);
    unreachable.live.close();
  });
});
