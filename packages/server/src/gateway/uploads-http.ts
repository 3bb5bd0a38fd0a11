import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { LiveFilesService } from '../services/live-files.service.js';
import { MAX_CHUNK_BYTES, type PackagesService } from '../services/packages.service.js';

/** Where an upload's chunks go: an investigation package, or a file live-response `getfile` sends. */
interface UploadTarget {
  uploadOffset(machineId: string, id: string): Promise<{ offset: number; complete: boolean }>;
  admitChunk(machineId: string, id: string, offset: number, bytes: number): Promise<void>;
  /** `turn` is awaited after the chunk's hash is checked and before it is written: the chunk before it is stored first. */
  uploadChunk(machineId: string, id: string, offset: number, chunk: Buffer, sha256: string, turn?: () => Promise<void>): Promise<{ offset: number }>;
  completeUpload(machineId: string, id: string, size: number, sha256: string): Promise<unknown>;
}

/**
 * Chunk uploads being received at once, per upload, per device and in all: each holds up to 8 MiB.
 * Two per upload: an agent sends the next chunk while the one before it is being stored (the
 * chain waited on each answer before); four per device, so a getfile and a package upload can
 * both do so. A chunk sent ahead (one before it is here already) takes a place of its own
 * budget: as many uploads get a chunk in as before, and memory grows by at most four chunks.
 */
const UPLOADS_PER_UPLOAD = 2;
const UPLOADS_PER_DEVICE = 4;
const UPLOADS_TOTAL = 16;
const UPLOADS_AHEAD = 4;
/** How long a chunk that arrived ahead waits for the one before it to be stored, at most. */
const HOLD_MS = 60_000;

/** A chunk PUT being received or stored: the bytes it would take the upload to, and whose budget it counts in. */
interface Pending {
  offset: number;
  end: number;
  settled: Promise<void>;
  ahead: boolean;
}

const CompleteUpload = z.strictObject({ size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-fA-F]{64}$/) });

/**
 * Chunk buffers are reused: a fresh multi-megabyte allocation per chunk leaves the C heap
 * fragmented, and the server's memory would grow with every upload instead of staying flat.
 */
const chunkBuffers: Buffer[] = [];
/** Memory that came from this pool; nothing else (Node's shared small-buffer pool above all) may enter it. */
const pooledMemory = new WeakSet<ArrayBufferLike>();
function takeBuffer(size: number): Buffer {
  // Small bodies get exactly their size; only chunk-sized ones share the pool.
  if (size < 1024 * 1024) return Buffer.allocUnsafe(size);
  const i = chunkBuffers.findIndex((b) => b.length >= size);
  let b = i >= 0 ? chunkBuffers.splice(i, 1)[0] : undefined;
  if (!b) {
    b = Buffer.allocUnsafeSlow(Math.max(size, 4 * 1024 * 1024));
    pooledMemory.add(b.buffer);
  }
  return b.subarray(0, size);
}
function giveBuffer(b: Buffer): void {
  // Enough buffers are kept for every chunk the gateway admits at once.
  if (pooledMemory.has(b.buffer) && chunkBuffers.length < UPLOADS_TOTAL + UPLOADS_AHEAD) chunkBuffers.push(Buffer.from(b.buffer, 0, b.buffer.byteLength));
}

/** Reads a request body up to `limit` bytes; null when it is larger (the caller answers and closes). */
async function readBody(req: IncomingMessage, limit: number, pooled = false): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return null;
  // With a declared length, one buffer of that size: ten concurrent 4 MiB chunks must not cost
  // twice that in pieces plus their concatenation.
  const known = Number.isSafeInteger(declared) && declared >= 0;
  const body = known ? (pooled ? takeBuffer(declared) : Buffer.allocUnsafe(declared)) : null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (size + chunk.length > (known ? declared : limit)) return null;
    if (body) chunk.copy(body, size);
    else chunks.push(chunk);
    size += chunk.length;
  }
  if (body) return size === declared ? body : null;
  return Buffer.concat(chunks);
}

/**
 * Reads and drops a request body of at most `limit` bytes, so the client reads the answer sent
 * before it (a connection closed while it is still sending would show it a reset instead).
 * Answers false when the body is longer (the caller closes the connection).
 */
async function discardBody(req: IncomingMessage, limit: number): Promise<boolean> {
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return false;
  }
  return true;
}

function safeJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
}

/**
 * Package uploads under UPLOAD_PATH: GET <id> (where to resume), PUT <id>?offset=N with one chunk
 * and its SHA-256 in x-chunk-sha256, POST <id>/complete {size, sha256}.
 */
export class UploadsHttp {
  readonly #inFlight = new Map<string, number>();
  #total = 0;
  #ahead = 0;
  /** The chunk PUTs of each upload (device and id) being received or stored here. */
  readonly #pending = new Map<string, Set<Pending>>();

  constructor(
    private readonly packages: PackagesService,
    private readonly live?: LiveFilesService,
  ) {}

  /**
   * Answers one upload request from `machineId`, whose device credential the caller has checked.
   * A service error (ApiError) is thrown for the caller to answer.
   */
  async handle(machineId: string, req: IncomingMessage, res: ServerResponse, reply: (status: number, body: unknown) => void): Promise<void> {
    const url = new URL(req.url!, 'https://agent.invalid');
    const m = /^\/agent\/v1\/uploads\/([0-9a-f-]{36})(\/complete)?$/.exec(url.pathname);
    if (!m) return reply(404, { error: { code: 'ResourceNotFound', message: 'No such upload path' } });
    const actionId = m[1]!;
    let target: UploadTarget = this.packages;
    try {
      // A request naming a live-response line is a getfile transfer; any other is a package's.
      if (this.live && (await this.live.claim(machineId, actionId, req.headers))) target = this.live;
    } catch (e) {
      if (req.method === 'PUT') {
        res.setHeader('connection', 'close');
        res.once('finish', () => req.destroy());
      }
      throw e;
    }
    if (req.method === 'GET' && !m[2]) return reply(200, await target.uploadOffset(machineId, actionId));
    if (req.method === 'PUT' && !m[2]) {
      const offset = Number(url.searchParams.get('offset'));
      const sha = String(req.headers['x-chunk-sha256'] ?? '');
      if (!Number.isSafeInteger(offset) || offset < 0) return reply(400, { error: { code: 'InvalidInput', message: 'offset must be a whole number of bytes', target: 'offset' } });
      if (!/^[0-9a-fA-F]{64}$/.test(sha)) return reply(400, { error: { code: 'InvalidInput', message: 'x-chunk-sha256 must be the hex SHA-256 of the chunk', target: 'x-chunk-sha256' } });
      const closeAfter = () => {
        // Answer, then drop the connection rather than read (or wait for) the rest of the body.
        res.setHeader('connection', 'close');
        res.once('finish', () => req.destroy());
      };
      // A device that stops sending mid-chunk does not hold its place (or its buffer) for long.
      req.setTimeout(60_000, () => req.destroy());
      // Memory is only spent on a body the device may send, and on a bounded number at once. The
      // declared length is checked against the package cap and the disk reserve before any is read.
      const declared = Number(req.headers['content-length']);
      const known = Number.isSafeInteger(declared) && declared >= 0;
      await target.admitChunk(machineId, actionId, offset, known ? declared : 0).catch(async (e: unknown) => {
        // "Later" (507) and "too large" (413) must reach the agent, which reads the answer only
        // after sending: a chunk-sized body is read and dropped first. Anything else closes.
        const mustArrive = e instanceof ApiError && (e.status === 507 || e.status === 413) && known && declared <= MAX_CHUNK_BYTES;
        if (!mustArrive || !(await discardBody(req, MAX_CHUNK_BYTES))) closeAfter();
        throw e;
      });
      const mine = this.#inFlight.get(machineId) ?? 0;
      const key = `${machineId}/${actionId}`;
      const pending = this.#pending.get(key) ?? new Set<Pending>();
      // Ahead: a chunk before it (a lower offset) is being received or stored here.
      const ahead = [...pending].some((p) => p.offset < offset);
      if (pending.size >= UPLOADS_PER_UPLOAD || mine >= UPLOADS_PER_DEVICE || (ahead ? this.#ahead >= UPLOADS_AHEAD : this.#total >= UPLOADS_TOTAL)) {
        closeAfter();
        res.setHeader('retry-after', '5');
        return reply(503, { error: { code: 'ServerBusy', message: 'Too many uploads in progress; retry shortly' } });
      }
      this.#inFlight.set(machineId, mine + 1);
      if (ahead) this.#ahead++;
      else this.#total++;
      let settle!: () => void;
      const me: Pending = { offset, end: offset + (known ? declared : 0), settled: new Promise<void>((r) => (settle = r)), ahead };
      pending.add(me);
      this.#pending.set(key, pending);
      // A chunk that arrived while the one before it (ending at its offset) is still arriving or
      // being stored waits for it, instead of being refused for its offset; the store then decides
      // (a refused chunk before it leaves this one refused too: "continues at offset ...").
      const turn = async () => {
        const before = [...pending].filter((p) => p !== me && p.end === offset && p.offset < offset).map((p) => p.settled);
        if (before.length === 0) return;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(before), new Promise<void>((r) => (timer = setTimeout(r, HOLD_MS)))]);
        clearTimeout(timer);
      };
      let chunk: Buffer | null = null;
      try {
        chunk = await readBody(req, MAX_CHUNK_BYTES, true);
        if (!chunk) {
          closeAfter();
          return reply(413, { error: { code: 'InvalidRequestBody', message: `A chunk may be at most ${MAX_CHUNK_BYTES} bytes`, target: 'body' } });
        }
        return reply(200, await target.uploadChunk(machineId, actionId, offset, chunk, sha, turn));
      } finally {
        pending.delete(me);
        if (pending.size === 0 && this.#pending.get(key) === pending) this.#pending.delete(key);
        settle();
        if (me.ahead) this.#ahead--;
        else this.#total--;
        // A chunk ahead of this one is its upload's first now: its place ahead is free for the next.
        for (const p of pending) {
          if (p.ahead && ![...pending].some((q) => q.offset < p.offset)) {
            p.ahead = false;
            this.#ahead--;
            this.#total++;
          }
        }
        const left = (this.#inFlight.get(machineId) ?? 1) - 1;
        if (left > 0) this.#inFlight.set(machineId, left);
        else this.#inFlight.delete(machineId);
        // Written and hashed by now: the buffer can carry the next chunk.
        if (chunk) giveBuffer(chunk);
      }
    }
    if (req.method === 'POST' && m[2]) {
      const body = await readBody(req, 4096);
      const parsed = CompleteUpload.safeParse(body ? safeJson(body) : null);
      if (!parsed.success) return reply(400, { error: { code: 'InvalidRequestBody', message: 'Send {"size": <bytes>, "sha256": "<hex>"}', target: 'body' } });
      return reply(200, await target.completeUpload(machineId, actionId, parsed.data.size, parsed.data.sha256));
    }
    req.resume();
    return reply(405, { error: { code: 'MethodNotAllowed', message: `${req.method} is not allowed here` } });
  }
}
