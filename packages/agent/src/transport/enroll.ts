import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { parseEnrollmentToken, type Inventory } from '@cordon/protocol';
import { writeState, type EnrollmentState } from '../enrollment-state.js';
import { parseServerUrls } from './servers.js';

interface HttpAnswer {
  status: number;
  body: string;
}

function httpsRequest(url: URL, opts: { method: string; body?: string; ca?: string }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method,
        headers: opts.body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) } : {},
        // Before the CA is pinned nothing is trusted: the CA's hash is checked against the token below.
        ...(opts.ca ? { ca: opts.ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }),
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within 15 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Parses an enrollment token, or says how to get a good one. */
export function parseToken(token: string): { secret: string; caPin: string } {
  const parsed = parseEnrollmentToken(token);
  if (!parsed) throw new Error('That is not a Cordon enrollment token (it looks like cet.<secret>.<pin>); create one with `cordon enrollment-token create`');
  return parsed;
}

/** The server did not answer at all (refused, reset, timed out) or failed on its side: another node may. */
class Unreachable extends Error {}

/**
 * Enrolls this device: fetches the server's CA certificate, checks it against the pin inside the
 * token (so a machine in the middle cannot pose as the server), then registers over TLS that
 * trusts only that CA, and stores the credential it gets back with every server URL given (the
 * nodes of one cluster share the CA). Enrolls through the first node that answers; one that is
 * unreachable is skipped, but a refusal (a bad token, a CA that does not match) is final.
 * Every URL is checked before anything is sent, and nothing is written unless enrollment succeeds.
 */
export async function enroll(serverUrls: string | readonly string[], token: string, dataDir: string, inventory: Inventory): Promise<EnrollmentState> {
  const { secret, caPin } = parseToken(token);
  const urls = parseServerUrls(serverUrls);
  const unreachable: string[] = [];
  for (const url of urls) {
    try {
      const answer = await enrollAt(new URL(url), secret, caPin, inventory);
      const state: EnrollmentState = { serverUrls: urls, ...answer, enrolledAt: new Date().toISOString() };
      writeState(dataDir, state);
      return state;
    } catch (e) {
      if (!(e instanceof Unreachable)) throw e;
      unreachable.push(e.message);
    }
  }
  throw new Error(`Enrollment failed: no server answered (${unreachable.join('; ')})`);
}

async function enrollAt(base: URL, secret: string, caPin: string, inventory: Inventory): Promise<Pick<EnrollmentState, 'machineId' | 'credential' | 'caCertPem' | 'signingPublicKeyPem'>> {
  const ask = async (url: URL, opts: Parameters<typeof httpsRequest>[1]): Promise<HttpAnswer> => {
    let answer: HttpAnswer;
    try {
      answer = await httpsRequest(url, opts);
    } catch (e) {
      throw new Unreachable(`${base.origin}: ${(e as Error).message}`);
    }
    if (answer.status >= 500) throw new Unreachable(`${base.origin}: HTTP ${answer.status}`);
    return answer;
  };
  const ca = await ask(new URL('/ca.crt', base), { method: 'GET' });
  if (ca.status !== 200) throw new Error(`${base.origin} did not hand out a CA certificate (HTTP ${ca.status}); is this the agent URL?`);
  let pin: string;
  try {
    pin = createHash('sha256').update(new X509Certificate(ca.body).raw).digest('hex');
  } catch {
    throw new Error(`${base.origin} answered with something that is not a certificate`);
  }
  if (pin !== caPin) throw new Error(`The CA certificate of ${base.origin} does not match the enrollment token (got ${pin.slice(0, 16)}…, expected ${caPin.slice(0, 16)}…): refusing to enroll`);
  const res = await ask(new URL('/enroll', base), { method: 'POST', body: JSON.stringify({ secret, inventory }), ca: ca.body });
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.body) as Record<string, unknown>;
  } catch {
    throw new Error(`Enrollment failed: HTTP ${res.status} with a body that is not JSON`);
  }
  if (res.status !== 201) throw new Error(`Enrollment refused: ${(body.error as { message?: string } | undefined)?.message ?? `HTTP ${res.status}`}`);
  return { machineId: String(body.machineId), credential: String(body.credential), caCertPem: ca.body, signingPublicKeyPem: String(body.signingPublicKeyPem) };
}
