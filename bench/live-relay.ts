/**
 * Baseline for bench/live.bench.ts's round trip: the same path as a live-response line, with no
 * Cordon in it. Three processes, as in Cordon: the bench's client sends a message over a plain
 * WebSocket to the relay ("server" role, here), which passes it over TLS to the other relay
 * ("agent" role), which sends it straight back the same way. Four hops between processes, each a
 * wake-up of another process on the same cores: the floor a line's round trip starts from on this
 * machine, where the bare echo (one process) has none.
 *
 *   node --import tsx bench/live-relay.ts server <certFile> <keyFile>   # prints "relay <port> <tlsPort>"
 *   node --import tsx bench/live-relay.ts agent <tlsPort> <caFile>      # prints "relay connected"
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import WebSocket, { WebSocketServer, type RawData } from 'ws';

const [role, ...args] = process.argv.slice(2);
const options = { perMessageDeflate: false, maxPayload: 1024 * 1024 };

if (role === 'server') {
  const [certFile, keyFile] = args as [string, string];
  let agent: WebSocket | undefined;
  let client: WebSocket | undefined;
  const tls = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  new WebSocketServer({ server: tls, ...options }).on('connection', (ws) => {
    agent = ws;
    ws.on('message', (data: RawData) => client?.send(data as Buffer));
  });
  const plain = createHttpServer();
  new WebSocketServer({ server: plain, ...options }).on('connection', (ws) => {
    client = ws;
    ws.on('message', (data: RawData) => agent?.send(data as Buffer));
  });
  await Promise.all([new Promise<void>((r) => tls.listen(0, '127.0.0.1', r)), new Promise<void>((r) => plain.listen(0, '127.0.0.1', r))]);
  const portOf = (s: typeof tls | typeof plain) => (s.address() as { port: number }).port;
  process.stdout.write(`relay ${portOf(plain)} ${portOf(tls)}\n`);
} else if (role === 'agent') {
  const [tlsPort, caFile] = args as [string, string];
  const ws = new WebSocket(`wss://127.0.0.1:${tlsPort}/`, { ca: readFileSync(caFile), checkServerIdentity: (() => undefined) as unknown as () => boolean, ...options });
  ws.on('message', (data: RawData) => ws.send(data as Buffer));
  ws.once('open', () => process.stdout.write('relay connected\n'));
  ws.once('error', (err) => {
    process.stderr.write(`relay agent: ${err.message}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: live-relay.ts server <certFile> <keyFile> | agent <tlsPort> <caFile>\n');
  process.exit(2);
}
