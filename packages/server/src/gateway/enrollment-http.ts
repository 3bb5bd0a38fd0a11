import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { Inventory } from '@cordon/protocol';
import { ApiError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { EnrollmentService } from '../services/enrollment.service.js';

const EnrollRequest = z.strictObject({ secret: z.string().min(1).max(128), inventory: Inventory });
const MAX_ENROLL_BODY = 256 * 1024;

/**
 * What an agent calls before it has a device credential: the server's CA certificate and
 * POST /enroll, which trades an enrollment token's secret for a credential, rate-limited per
 * source address.
 */
export class EnrollmentHttp {
  readonly #windows = new Map<string, { count: number; windowStart: number }>();

  constructor(
    private readonly enrollment: EnrollmentService,
    private readonly caCertPem: string,
    /** Enrollment attempts per source address per minute. */
    private readonly perMinute = 600,
    private readonly metrics?: Metrics,
  ) {}

  /** GET /ca.crt: public by design, a new agent checks it against the pin in its enrollment token. */
  caCertificate(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(this.caCertPem);
  }

  /** POST /enroll. A service error (ApiError) is thrown for the caller to answer. */
  async enroll(req: IncomingMessage, res: ServerResponse, reply: (status: number, body: unknown) => void): Promise<void> {
    const retryAfter = this.#budget(req.socket.remoteAddress ?? 'unknown');
    if (retryAfter > 0) {
      res.setHeader('retry-after', String(retryAfter));
      return reply(429, { error: { code: 'TooManyRequests', message: `Too many enrollment attempts from this address; retry after ${retryAfter} seconds` } });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ENROLL_BODY) return reply(400, { error: { code: 'InvalidRequestBody', message: 'Enrollment request too large', target: 'body' } });
      chunks.push(chunk);
    }
    let json: unknown;
    try {
      json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(400, { error: { code: 'InvalidRequestBody', message: 'The enrollment request is not valid JSON', target: 'body' } });
    }
    const parsed = EnrollRequest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return reply(400, { error: { code: 'InvalidRequestBody', message: `${issue.path.join('.')}: ${issue.message}`, target: issue.path.join('.') } });
    }
    const result = await this.enrollment.enroll(parsed.data.secret, parsed.data.inventory).catch((e: unknown) => {
      // Unknown tokens are noise anyone can make: counted, never audited under a name they chose.
      if (e instanceof ApiError && e.status === 401) this.metrics?.unauthenticated.inc({ route: '/enroll' });
      throw e;
    });
    return reply(201, result);
  }

  /** Answers 0 when an enrollment from `address` may proceed, else the seconds to wait. */
  #budget(address: string): number {
    const now = Date.now();
    // Expired windows are swept only when many addresses were seen, so the map stays bounded.
    if (this.#windows.size > 10_000) for (const [k, v] of this.#windows) if (now - v.windowStart >= 60_000) this.#windows.delete(k);
    const w = this.#windows.get(address);
    if (!w || now - w.windowStart >= 60_000) {
      this.#windows.set(address, { count: 1, windowStart: now });
      return 0;
    }
    if (++w.count <= this.perMinute) return 0;
    return Math.ceil((w.windowStart + 60_000 - now) / 1000);
  }
}
