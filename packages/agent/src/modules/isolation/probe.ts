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

/**
 * Asks every server node until one answers or the window closes; answers how long it took, or
 * null. One is enough: the agent needs a path to some node, and a node that is down for
 * maintenance must not roll an isolation back.
 */
export async function confirmServer(serverUrls: readonly string[], caCertPem: string, windowMs: number, signal?: AbortSignal): Promise<number | null> {
  const start = Date.now();
  while (Date.now() - start < windowMs && !signal?.aborted) {
    const left = windowMs - (Date.now() - start);
    const answers = serverUrls.map((url) => serverAnswers(url, caCertPem, Math.min(3000, Math.max(left, 100))));
    if (await anyTrue(answers)) return Date.now() - start;
    await new Promise((r) => setTimeout(r, Math.min(250, Math.max(windowMs - (Date.now() - start), 0))));
  }
  return null;
}

/** True as soon as one answers true; false once all answered false. */
function anyTrue(answers: Promise<boolean>[]): Promise<boolean> {
  return new Promise((resolve) => {
    let left = answers.length;
    if (left === 0) resolve(false);
    for (const a of answers)
      void a.then((ok) => {
        left -= 1;
        if (ok || left === 0) resolve(ok);
      });
  });
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
