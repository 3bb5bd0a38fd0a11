import { request } from 'node:https';

/**
 * A server node's `/healthz` over a new connection trusting only the pinned CA: its HTTP status
 * (200 serving; 503 up, but its store is unreachable), or null when nothing answered in time.
 */
export function healthStatus(serverUrl: string, caCertPem: string, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const req = request(new URL('/healthz', serverUrl), { ca: caCertPem, checkServerIdentity: () => undefined, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}
