import { createHash } from 'node:crypto';
import { Agent, request } from 'node:https';
import { UPLOAD_PATH } from '@cordon/protocol';
import type { EnrollmentState } from '../enrollment-state.js';
import { ServerCursor } from './servers.js';

export interface UploadOptions {
  /** Bytes per chunk (the server accepts up to 8 MiB). */
  chunkBytes?: number;
  /** How often one chunk is tried before the upload fails. */
  maxAttempts?: number;
  /** Waits between attempts: base and ceiling, in ms (doubling, with jitter). */
  backoffMs?: { base: number; max: number };
  /** How long a server with a full disk is waited for before the upload fails. */
  storageFullGiveUpMs?: number;
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?(uploadedBytes: number): void;
  /** Sent with every request (a live-response file names its line and path). */
  headers?: Record<string, string>;
}

interface Answer {
  status: number;
  body: { offset?: number; complete?: boolean; error?: { code?: string; message?: string; target?: string } } | null;
}

class RetryableError extends Error {}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * Chunks on their way at once: the next one is sent while the server stores the one before it
 * (it holds a chunk that arrives ahead until then). One at a time, the chain waited on each
 * answer: the transfer, the server's hash check, write and fsync, one after another.
 */
const IN_FLIGHT = 2;

/**
 * Uploads a stream (an investigation package as it is zipped) to the server in chunks. Memory
 * stays flat: three chunk buffers, two on their way until the server acknowledged them, the next
 * one filling meanwhile. A dropped connection
 * resumes from the server's acknowledged offset, a chunk the server found corrupted is sent
 * again, a full server disk is waited out with backoff, and the whole file's SHA-256 is checked
 * by the server at the end. `serverUrls` come in the order to try them (the agent's current
 * server first): a request that gets no answer moves the upload on to the next node, which
 * resumes it (the nodes share the files).
 */
export class PackageUploader {
  readonly #opts: Required<Omit<UploadOptions, 'signal' | 'onProgress'>> & Pick<UploadOptions, 'signal' | 'onProgress'>;
  readonly #servers: ServerCursor;
  /** The upload's connection (kept alive between its requests). */
  #agent: Agent | false = false;
  /** The upload's chunks on their way. */
  #inFlight: Promise<void>[] = [];
  /** Why the server refused a chunk for good, if it did: the reason the upload failed, whichever chunk failed first. */
  #refusal: Error | undefined;
  /** Aborted once the upload failed: its other chunks stop waiting to try again. */
  #stop = new AbortController();

  constructor(
    private readonly state: Pick<EnrollmentState, 'serverUrls' | 'machineId' | 'credential' | 'caCertPem'>,
    opts: UploadOptions = {},
  ) {
    this.#servers = new ServerCursor(state.serverUrls);
    this.#opts = {
      chunkBytes: opts.chunkBytes ?? 4 * 1024 * 1024,
      maxAttempts: opts.maxAttempts ?? 8,
      backoffMs: opts.backoffMs ?? { base: 500, max: 30_000 },
      storageFullGiveUpMs: opts.storageFullGiveUpMs ?? 10 * 60_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
      signal: opts.signal,
      onProgress: opts.onProgress,
      headers: opts.headers ?? {},
    };
  }

  /**
   * Answers the bytes sent in all, their SHA-256, how many times a chunk had to resume, and how
   * many bytes the server already held at the start. Each piece of `source` is hashed and copied
   * before the next is asked for, so a source may read every piece into the same buffer.
   */
  async upload(actionId: string, source: AsyncIterable<Buffer>): Promise<{ size: number; sha256: string; resumed: number; heldAtStart: number }> {
    // One kept-alive connection for the whole upload: a TLS handshake per chunk cost more than the chunk's transfer.
    this.#agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    this.#refusal = undefined;
    this.#stop = new AbortController();
    try {
      return await this.#upload(actionId, source);
    } catch (e) {
      // The chunk before a refused one may fail first, for the very reason of the refusal (a
      // package over the cap fails its action): the server's refusal says why. The chunks still on
      // their way end with their answer; none waits to try again.
      this.#stop.abort(e);
      await Promise.allSettled(this.#inFlight);
      throw this.#refusal ?? e;
    } finally {
      this.#agent.destroy();
    }
  }

  async #upload(actionId: string, source: AsyncIterable<Buffer>): Promise<{ size: number; sha256: string; resumed: number; heldAtStart: number }> {
    const whole = createHash('sha256');
    const start = (await this.#retrying(() => this.#offset(actionId))).offset;
    // The server already holds the start (an earlier try of this same stream): skip it, hashed.
    let skip = start;
    let offset = start;
    let resumed = 0;
    // The next chunk is read (and hashed) while IN_FLIGHT are on their way, each settling only
    // after the ones before it (so progress and the acknowledged offset move in order).
    const inFlight: Promise<void>[] = (this.#inFlight = []);
    let last: Promise<void> = Promise.resolve();
    let next = start;
    const flush = async (chunk: Buffer) => {
      if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
      const at = next;
      next += chunk.length;
      const before = last;
      last = (async () => {
        const again = await this.#sendChunk(actionId, at, chunk, before);
        await before;
        resumed += again;
        offset = at + chunk.length;
        this.#opts.onProgress?.(offset);
      })();
      // Seen by a later flush or at the end; never an unhandled rejection meanwhile.
      last.catch(() => undefined);
      inFlight.push(last);
    };
    // Chunks are gathered in buffers used in turn: IN_FLIGHT on their way, one filling. A buffer
    // is filled again only after its chunk was acknowledged (the flush of the chunk IN_FLIGHT after
    // it waited for that). Reused memory: a fresh buffer per chunk cost more in page faults and
    // collection than the copy into it.
    const buffers: Buffer[] = [];
    let turn = 0;
    let filled = 0;
    const filling = () => (buffers[turn] ??= Buffer.allocUnsafe(this.#opts.chunkBytes));
    for await (const piece of source) {
      let data = piece;
      whole.update(data);
      if (skip > 0) {
        const n = Math.min(skip, data.length);
        skip -= n;
        data = data.subarray(n);
        if (data.length === 0) continue;
      }
      for (let from = 0; from < data.length; ) {
        const n = data.copy(filling(), filled, from, Math.min(data.length, from + this.#opts.chunkBytes - filled));
        filled += n;
        from += n;
        if (filled === this.#opts.chunkBytes) {
          await flush(filling());
          turn = (turn + 1) % (IN_FLIGHT + 1);
          filled = 0;
        }
      }
    }
    if (skip > 0) throw new Error(`The server holds ${start} bytes of this upload but the package is only ${start - skip} bytes long`);
    if (filled > 0) await flush(filling().subarray(0, filled));
    await last;
    const digest = whole.digest('hex');
    const done = await this.#retrying(async () => {
      const a = await this.#call('POST', `${UPLOAD_PATH}/${actionId}/complete`, Buffer.from(JSON.stringify({ size: offset, sha256: digest })), { 'content-type': 'application/json' });
      if (a.status >= 500) throw new RetryableError(`HTTP ${a.status}`);
      return a;
    });
    if (done.status !== 200) throw new Error(`The server did not accept the package: ${done.body?.error?.message ?? `HTTP ${done.status}`}`);
    return { size: offset, sha256: digest, resumed, heldAtStart: start };
  }

  /**
   * Sends one chunk until the server holds it; answers how many times it had to resume. `before`
   * settles once the chunks before this one are stored: a refused chunk asks where the server
   * stands only after that (it may have been refused because one of them failed).
   */
  async #sendChunk(actionId: string, start: number, whole: Buffer, before: Promise<void>): Promise<number> {
    let offset = start;
    let chunk = whole;
    let hash = sha256(chunk);
    let resumed = 0;
    let storageFullSince: number | null = null;
    let beforeSettled = false;
    before.then(() => (beforeSettled = true), () => (beforeSettled = true));
    for (let attempt = 1; ; attempt++) {
      this.#opts.signal?.throwIfAborted();
      this.#stop.signal.throwIfAborted();
      let answer: Answer | null = null;
      try {
        answer = await this.#call('PUT', `${UPLOAD_PATH}/${actionId}?offset=${offset}`, chunk, { 'content-type': 'application/octet-stream', 'x-chunk-sha256': hash });
      } catch {
        answer = null; // dropped connection or time-out: ask the server where it stands
      }
      if (answer?.status === 200) return resumed;
      // A chunk sent ahead that found no room (503), came before the one ahead of it (409) or lost
      // its connection tries again once the one before it is stored (one at a time while the
      // server is busy), neither counted as an attempt nor backed off.
      const ahead = !beforeSettled && (!answer || answer.status === 503 || answer.status === 409);
      if (answer?.status === 507) {
        storageFullSince ??= Date.now();
        if (Date.now() - storageFullSince > this.#opts.storageFullGiveUpMs) throw new Error(`The server has had no space for the package for ${Math.round(this.#opts.storageFullGiveUpMs / 1000)} s: ${answer.body?.error?.message ?? ''}`);
        await this.#wait(this.#opts.backoffMs.max);
        attempt--;
        continue;
      }
      if (answer && answer.status !== 409 && answer.status !== 400 && answer.status < 500) {
        throw (this.#refusal = new Error(`The server refused the package upload: ${answer.body?.error?.message ?? `HTTP ${answer.status}`}`));
      }
      if (ahead) attempt--;
      else {
        if (attempt >= this.#opts.maxAttempts) throw new Error(`Uploading the package failed after ${attempt} attempts at offset ${offset}${answer ? `: ${answer.body?.error?.message ?? `HTTP ${answer.status}`}` : ' (connection lost)'}`);
        if (!answer || answer.status >= 500) await this.#wait(this.#backoff(attempt));
      }
      await before;
      // Where does the server stand? The chunk may have been stored (wholly or, after a crash, partly) with its answer lost.
      const at = (await this.#retrying(() => this.#offset(actionId))).offset;
      resumed++;
      const end = start + whole.length;
      // Stored, maybe with the chunk after it (sent meanwhile, its answer seen first).
      if (at >= end) return resumed;
      if (at < start) throw new Error(`The server holds ${at} bytes of the package; expected between ${start} and ${end}`);
      if (at !== offset) {
        offset = at;
        chunk = whole.subarray(at - start);
        hash = sha256(chunk);
      }
    }
  }

  async #offset(actionId: string): Promise<{ offset: number }> {
    const a = await this.#call('GET', `${UPLOAD_PATH}/${actionId}`);
    if (a.status >= 500) throw new RetryableError(`HTTP ${a.status}`);
    if (a.status !== 200 || typeof a.body?.offset !== 'number') throw new Error(`The server will not take this package: ${a.body?.error?.message ?? `HTTP ${a.status}`}`);
    return { offset: a.body.offset };
  }

  /** Retries a request that failed on the network (not one the server answered with a refusal). */
  async #retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.#opts.signal?.throwIfAborted();
      try {
        return await fn();
      } catch (e) {
        const network = e instanceof RetryableError || (e as NodeJS.ErrnoException).code !== undefined;
        if (!network || attempt >= this.#opts.maxAttempts) throw e;
        await this.#wait(this.#backoff(attempt));
      }
    }
  }

  #backoff(attempt: number): number {
    const { base, max } = this.#opts.backoffMs;
    return Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      for (const signal of [this.#opts.signal, this.#stop.signal]) {
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(signal.reason as Error);
        }, { once: true });
      }
    });
  }

  #call(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
    const server = this.#servers.current;
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, server),
        {
          method,
          ca: this.state.caCertPem,
          // The pinned private CA is the identity check, as for the WebSocket.
          checkServerIdentity: () => undefined,
          agent: this.#agent,
          timeout: this.#opts.requestTimeoutMs,
          headers: { authorization: `Bearer ${this.state.machineId}.${this.state.credential}`, ...this.#opts.headers, ...(body ? { 'content-length': String(body.length) } : {}), ...headers },
          signal: this.#opts.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            let parsed: Answer['body'] = null;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'];
            } catch {
              parsed = null;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => {
        // No answer from this node: the retry goes to the next one.
        if (!this.#opts.signal?.aborted) this.#servers.failed(server);
        reject(err);
      });
      req.end(body);
    });
  }
}
