/**
 * Baseline for bench/agents.bench.ts: a bare `ws` server over the same TLS certificate that answers
 * hello with welcome and, on POST /submit, sends every connection a command frame of the same
 * shape and size Cordon sends, counting the acks. No auth, no store, no validation: the floor.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { WebSocketServer, type WebSocket } from 'ws';

const [certFile, keyFile, portArg] = process.argv.slice(2);
const sockets = new Set<WebSocket>();
let acks = 0;

const server = createServer({ cert: readFileSync(certFile!), key: readFileSync(keyFile!) }, (req, res) => {
  if (req.method === 'POST' && req.url === '/submit') {
    const now = new Date();
    for (const ws of sockets) {
      const payload = JSON.stringify({ actionId: randomUUID(), machineId: 'f'.repeat(40), type: 'RefreshInventory', parameters: {}, issuedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3 * 86400_000).toISOString() });
      ws.send(JSON.stringify({ type: 'command', command: { payload, signature: 'A'.repeat(86) + '==', keyId: '0123456789abcdef' } }));
    }
    res.end(JSON.stringify({ sent: sockets.size }));
    return;
  }
  res.end(JSON.stringify({ acks, connections: sockets.size }));
});
const wss = new WebSocketServer({ server, path: '/agent/v1', perMessageDeflate: false, maxPayload: 1024 * 1024 });
wss.on('connection', (ws) => {
  sockets.add(ws);
  ws.on('close', () => sockets.delete(ws));
  ws.on('message', (data) => {
    const f = JSON.parse(data.toString()) as { type: string };
    if (f.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', machineId: 'f'.repeat(40), serverTime: new Date().toISOString(), heartbeatSeconds: 30 }));
    else if (f.type === 'ack') acks++;
  });
});
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write(`agents: https://127.0.0.1:${portArg}\n`));
