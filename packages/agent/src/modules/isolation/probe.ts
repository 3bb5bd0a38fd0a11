import { connect } from 'node:net';
import { healthStatus } from '../../transport/health.js';

/**
 * Whether the server answers through the rules: any answer of its /healthz (over TLS with the
 * pinned CA) proves the path; a node that cannot reach its store (503) is still a node the agent
 * can reach, and isolation must not be rolled back for a database outage.
 */
async function serverAnswers(serverUrl: string, caCertPem: string, timeoutMs: number): Promise<boolean> {
  return (await healthStatus(serverUrl, caCertPem, timeoutMs)) !== null;
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
    const timeoutMs = Math.min(3000, Math.max(left, 100));
    // Settled by the first node that answers (Promise.any), or once none did.
    const answered = await Promise.any(
      serverUrls.map(async (url) => {
        if (!(await serverAnswers(url, caCertPem, timeoutMs))) throw new Error(`${url} did not answer`);
      }),
    ).then(() => true, () => false);
    if (answered) return Date.now() - start;
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
