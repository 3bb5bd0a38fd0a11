import { request } from 'node:https';
import { connect } from 'node:net';

/** One HTTPS request to the server's health endpoint over a new connection, trusting only the pinned CA. */
export function serverAnswers(serverUrl: string, caCertPem: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(new URL('/healthz', serverUrl), { ca: caCertPem, checkServerIdentity: () => undefined, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Asks until the server answers or the window closes; answers how long it took, or null. */
export async function confirmServer(serverUrl: string, caCertPem: string, windowMs: number, signal?: AbortSignal): Promise<number | null> {
  const start = Date.now();
  while (Date.now() - start < windowMs && !signal?.aborted) {
    const left = windowMs - (Date.now() - start);
    if (await serverAnswers(serverUrl, caCertPem, Math.min(3000, Math.max(left, 100)))) return Date.now() - start;
    await new Promise((r) => setTimeout(r, Math.min(250, Math.max(windowMs - (Date.now() - start), 0))));
  }
  return null;
}

/** Whether a TCP connection to host:port succeeds (the forbidden-destination check wants false). */
export function tcpReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
