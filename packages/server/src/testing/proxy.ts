import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback for fault tests: connection n (from 1) goes to port `target(n)`, and is
 * dropped once more than `cutAfter(n)` bytes came from the client (null: never). `down(true)` cuts
 * every connection and refuses new ones (the far side is unreachable) until `down(false)`.
 */
export async function tcpProxy(opts: { target: (n: number) => number; cutAfter?: (n: number) => number | null }): Promise<{ port: number; connections(): number; cuts(): number; down(down: boolean): void; close(): void }> {
  let n = 0;
  let cuts = 0;
  let isDown = false;
  let sockets: Socket[] = [];
  const cutAll = () => {
    for (const s of sockets) s.destroy();
    sockets = [];
  };
  const server = createServer((client) => {
    if (isDown) return void client.destroy();
    const id = ++n;
    const limit = opts.cutAfter?.(id) ?? null;
    const upstream = connect(opts.target(id), '127.0.0.1');
    sockets.push(client, upstream);
    let sent = 0;
    client.on('data', (d: Buffer) => {
      sent += d.length;
      if (limit !== null && sent > limit) {
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(d);
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => n,
    cuts: () => cuts,
    down: (down) => {
      isDown = down;
      if (down) cutAll();
    },
    close: () => {
      cutAll();
      server.close();
    },
  };
}
