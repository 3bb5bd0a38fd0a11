import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../errors.js';

/**
 * Short-lived download URLs that work without a token (MDE's GetPackageUri and
 * GetLiveResponseResultDownloadLink): an HMAC of what the URL names and when it expires, with a key
 * derived from the server's signing key. Each kind of download names its subject differently, so a
 * signature for one never opens another.
 */
export class DownloadUrls {
  constructor(private readonly key: Buffer) {}

  /** Adds `expires` and `signature` to `url` for `subject`, good for `seconds` from `now`; answers when it expires. */
  sign(url: URL, subject: string, now: Date, seconds: number): Date {
    const expires = Math.floor(now.getTime() / 1000) + seconds;
    url.searchParams.set('expires', String(expires));
    url.searchParams.set('signature', this.#mac(subject, expires));
    return new Date(expires * 1000);
  }

  /** Throws 401 unless `signature` is this server's for `subject` and `expires`, and it has not expired; `askAgain` says how to get a new one. */
  verify(subject: string, expires: number, signature: string, now: Date, askAgain: string): void {
    const expected = Buffer.from(this.#mac(subject, expires), 'hex');
    const given = Buffer.from(/^[0-9a-f]{64}$/.test(signature) ? signature : '', 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new UnauthorizedError(`This download link is not valid; ${askAgain}`);
    if (expires * 1000 <= now.getTime()) throw new UnauthorizedError(`This download link expired at ${new Date(expires * 1000).toISOString()}; ${askAgain}`);
  }

  #mac(subject: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${subject}\n${expires}`).digest('hex');
  }
}
