import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { CONTENT_PATH } from '@cordon/protocol';
import { valid, type ContentService } from '../services/content.service.js';

const notFound = { error: { code: 'ResourceNotFound', message: 'No such content' } };

/**
 * Signed content for enrolled agents under CONTENT_PATH: GET <kind>/<name>/manifest answers the
 * newest signed manifest, GET <kind>/<name>/v<version> the bytes, from `Range: bytes=N-` on when
 * asked (206), so a cut download resumes. The device credential was checked by the gateway;
 * every device may read all content (what it is for is decided on the device, after verifying).
 */
export class ContentHttp {
  constructor(private readonly content: ContentService) {}

  /** Answers one content request; `_machineId`'s credential was checked by the caller. */
  async handle(_machineId: string, req: IncomingMessage, res: ServerResponse, reply: (status: number, body: unknown) => void): Promise<void> {
    req.resume();
    const url = new URL(req.url!, 'https://agent.invalid');
    if (!url.pathname.startsWith(`${CONTENT_PATH}/`)) return reply(404, notFound);
    const m = /^([^/]+)\/([^/]+)\/(manifest|v(\d{1,16}))$/.exec(url.pathname.slice(CONTENT_PATH.length + 1));
    // Kind and name are checked before anything is looked up: nothing else reaches the store or the disk.
    if (!m || !valid(m[1]!, m[2]!)) return reply(404, notFound);
    if (req.method !== 'GET') return reply(405, { error: { code: 'MethodNotAllowed', message: `${req.method} is not allowed here` } });
    const [, kind, name, what, version] = m as unknown as [string, string, string, string, string | undefined];
    if (what === 'manifest') {
      const latest = await this.content.latest(kind, name);
      return latest ? reply(200, latest.signed) : reply(404, notFound);
    }
    const bytes = await this.content.bytes(kind, name, Number(version));
    if (!bytes) return reply(404, notFound);
    const range = parseRange(req.headers.range);
    if (range !== null && range >= bytes.size) {
      res.writeHead(416, { 'content-type': 'application/json', 'content-range': `bytes */${bytes.size}` });
      res.end(JSON.stringify({ error: { code: 'RangeNotSatisfiable', message: `The content is ${bytes.size} bytes; ask for a start below that`, target: 'range' } }));
      return;
    }
    const start = range ?? 0;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.size - start), 'accept-ranges': 'bytes' };
    if (range !== null) headers['content-range'] = `bytes ${start}-${bytes.size - 1}/${bytes.size}`;
    res.writeHead(range !== null ? 206 : 200, headers);
    // Streamed from the file: a large bundle costs no more memory than a small one.
    await pipeline(bytes.read(start), res).catch(() => res.destroy());
  }
}

/**
 * `bytes=N-` gives N. Anything else (no header, a closed range, several ranges: forms agents do
 * not send) gives null and the whole content is sent, as a server may ignore Range.
 */
function parseRange(header: string | undefined): number | null {
  const open = /^bytes=(\d{1,16})-$/.exec(header?.trim() ?? '');
  return open ? Number(open[1]) : null;
}
