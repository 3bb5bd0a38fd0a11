/**
 * A simulated fleet in one process (the idea of Fleet's osquery-perf and Velociraptor's pool
 * clients): each simulated agent holds a real TLS WebSocket, speaks the real protocol (hello,
 * heartbeats, acks) and records when its command arrived. Signatures are not re-verified here:
 * real agents verify on their own CPUs, and doing it for 10,000 agents on one core would measure
 * this simulator, not the server.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, type Inventory } from '@cordon/protocol';

export interface SimAgent {
  machineId: string;
  credential: string;
}

export interface Fleet {
  /** performance.now() at which each agent sent its ack for the current command. */
  ackTimes: number[];
  /** Agents welcomed at least once. */
  connected(): number;
  /** Agents with a welcomed connection right now. */
  connectedNow(): number;
  close(): Promise<void>;
}

export function inventoryFor(i: number): Inventory {
  return {
    hostname: `sim-${String(i).padStart(5, '0')}`,
    osPlatform: 'Linux',
    osVersion: 'Debian GNU/Linux 12 (bookworm)',
    osProcessor: 'x64',
    kernel: '6.1.0-bench',
    ipAddresses: [{ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, family: 'IPv4', interface: 'eth0', mac: null }],
    agentVersion: '0.1.0',
    capabilities: [{ name: 'inventory', version: '1' }],
    deviceTags: [],
    // What a real agent reports on every hello, so the server's reading of both is measured too.
    isolation: { state: 'NotIsolated', type: null, since: null, releasedBy: null },
    restriction: { state: 'Unrestricted', since: null, guard: null, error: null, trusted: null },
  };
}

/** Connects every agent (at most `concurrency` handshakes at once) and resolves once all are welcomed. */
/**
 * Connects every agent (at most `concurrency` handshakes at once) and resolves once all are welcomed.
 * `url` may name each agent's servers (several nodes): a dropped agent then moves to its next server
 * after the real agent's jittered backoff, as the real agent does.
 */
export async function connectFleet(url: string | ((i: number) => string[]), caCertPem: string, agents: SimAgent[], opts: { heartbeatSeconds: number; concurrency: number }): Promise<Fleet> {
  const sockets = new Set<WebSocket>();
  const timers: NodeJS.Timeout[] = [];
  const ackTimes: number[] = [];
  const urlsOf = typeof url === 'string' ? () => [url] : url;
  let next = 0;
  let welcomed = 0;
  let now = 0;
  let closing = false;

  const connectOne = (i: number, attempt = 0) =>
    new Promise<void>((resolve, reject) => {
      const a = agents[i]!;
      const urls = urlsOf(i);
      const target = urls[attempt % urls.length]!;
      const ws = new WebSocket(`${target.replace(/^https/, 'wss')}/agent/v1`, {
        ca: caCertPem,
        checkServerIdentity: (() => undefined) as unknown as () => boolean,
        headers: { authorization: `Bearer ${a.machineId}.${a.credential}` },
        perMessageDeflate: false,
      });
      sockets.add(ws);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventoryFor(i) })));
      let open = false;
      ws.on('error', (e) => {
        if (urls.length === 1 && attempt === 0) reject(e);
      });
      ws.on('close', () => {
        sockets.delete(ws);
        if (open) now--;
        if (closing || (urls.length === 1 && !open && attempt === 0)) return;
        // Moves on to its next server after a jittered backoff, as the agent does (transport/backoff.ts).
        const wait = 500 + Math.random() * Math.min(30_000, 1000 * 2 ** Math.min(attempt, 16));
        timers.push(setTimeout(() => void connectOne(i, attempt + 1).then(resolve, reject), wait));
      });
      let seq = 0;
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as { type: string; command?: { payload: string } };
        if (f.type === 'welcome') {
          if (attempt === 0) welcomed++;
          open = true;
          now++;
          // Spread heartbeats over the interval, as real agents started at different times are.
          const first = setTimeout(() => {
            const t = setInterval(() => ws.readyState === ws.OPEN && ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++ })), opts.heartbeatSeconds * 1000);
            timers.push(t);
          }, Math.random() * opts.heartbeatSeconds * 1000);
          timers.push(first);
          resolve();
        } else if (f.type === 'command') {
          const actionId = (JSON.parse(f.command!.payload) as { actionId: string }).actionId;
          ws.send(JSON.stringify({ type: 'ack', actionId }));
          ackTimes.push(performance.now());
        }
      });
    });

  const worker = async () => {
    while (next < agents.length) {
      const i = next++;
      await connectOne(i);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return {
    ackTimes,
    connected: () => welcomed,
    connectedNow: () => now,
    async close() {
      closing = true;
      for (const t of timers) clearTimeout(t);
      for (const ws of sockets) ws.terminate();
    },
  };
}
