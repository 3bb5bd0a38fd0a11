import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { CONTENT_PATH, type ContentKind, type ContentManifest } from '@cordon/protocol';
import type { ContentFetcher } from '../content/store.js';
import type { EnrollmentState } from '../enrollment-state.js';
import { ServerCursor } from './servers.js';

export interface ContentFetcherOptions {
  /** How long a request may go without any data before it is dropped (ms). */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
}

/** The server publishes nothing under this kind + name (yet). */
export class ContentNotPublishedError extends Error {
  constructor(kind: ContentKind, name: string) {
    super(`The server publishes no ${kind} named ${name}`);
    this.name = 'ContentNotPublishedError';
  }
}

/** Largest signed manifest answer read (the manifest text itself is at most 4 KiB). */
const MAX_MANIFEST_BYTES = 16 * 1024;

/**
 * Fetches signed content from the server's gateway over TLS, trusting only the CA pinned at
 * enrollment and presenting the device credential (as package uploads do). Bytes are asked for
 * from an offset with `Range: bytes=N-`, so the content store resumes a cut download. Nothing is
 * trusted here: the store verifies the manifest's signature and the bytes against it.
 * `serverUrls` come in the order to try them (the agent's current server first); a node that
 * does not answer is passed over for the next.
 */
export class HttpContentFetcher implements ContentFetcher {
  readonly #timeoutMs: number;
  readonly #signal?: AbortSignal;
  readonly #servers: ServerCursor;

  constructor(
    private readonly state: Pick<EnrollmentState, 'serverUrls' | 'machineId' | 'credential' | 'caCertPem'>,
    opts: ContentFetcherOptions = {},
  ) {
    this.#servers = new ServerCursor(state.serverUrls);
    this.#timeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.#signal = opts.signal;
  }

  async manifest(kind: ContentKind, name: string): Promise<unknown> {
    const res = await this.#get(`${CONTENT_PATH}/${encodeURIComponent(kind)}/${encodeURIComponent(name)}/manifest`);
    const body = await readAll(res, MAX_MANIFEST_BYTES);
    if (res.statusCode === 404) throw new ContentNotPublishedError(kind, name);
    if (res.statusCode !== 200) throw new Error(`The server did not send the ${kind} ${name} manifest: ${errorMessage(body) ?? `HTTP ${res.statusCode}`}`);
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      // The store refuses what is not a signed manifest.
      return null;
    }
  }

  async *bytes(manifest: ContentManifest, offset: number): AsyncIterable<Uint8Array> {
    const res = await this.#get(`${CONTENT_PATH}/${manifest.kind}/${manifest.name}/v${manifest.version}`, offset > 0 ? { range: `bytes=${offset}-` } : {});
    try {
      let skip = 0;
      if (res.statusCode === 200) {
        // A server (or proxy) that ignored the range sent everything: drop what the store already has.
        skip = offset;
      } else if (res.statusCode === 206) {
        const m = /^bytes (\d+)-\d+\/\d+$/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== offset) throw new Error(`The server answered a range that does not start at ${offset}: ${String(res.headers['content-range'])}`);
      } else {
        const body = await readAll(res, MAX_MANIFEST_BYTES);
        throw new Error(`The server did not send ${manifest.kind} ${manifest.name} v${manifest.version} from byte ${offset}: ${errorMessage(body) ?? `HTTP ${res.statusCode}`}`);
      }
      // A cut connection ends the iteration with an error: the store keeps what arrived and resumes.
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (skip >= chunk.length) {
          skip -= chunk.length;
          continue;
        }
        yield skip > 0 ? chunk.subarray(skip) : chunk;
        skip = 0;
      }
      if (!res.complete) throw new Error('The connection closed before the content was complete');
    } finally {
      // The store may stop early (more bytes than the manifest says): do not read the rest.
      res.destroy();
    }
  }

  /** GET from the first node that answers, starting with the one that answered last. */
  async #get(path: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
    for (let tried = 1; ; tried++) {
      const server = this.#servers.current;
      try {
        return await this.#getFrom(server, path, headers);
      } catch (err) {
        if (this.#signal?.aborted || tried >= this.#servers.urls.length) throw err;
        this.#servers.failed(server);
      }
    }
  }

  #getFrom(server: string, path: string, headers: Record<string, string>): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, server),
        {
          method: 'GET',
          ca: this.state.caCertPem,
          // The pinned private CA is the identity check, as for the WebSocket and uploads.
          checkServerIdentity: () => undefined,
          agent: false,
          timeout: this.#timeoutMs,
          headers: { authorization: `Bearer ${this.state.machineId}.${this.state.credential}`, ...headers },
          signal: this.#signal,
        },
        resolve,
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end();
    });
  }
}

async function readAll(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      throw new Error(`The server's answer is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function errorMessage(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { message?: unknown } };
    return typeof parsed.error?.message === 'string' ? parsed.error.message : undefined;
  } catch {
    return undefined;
  }
}
