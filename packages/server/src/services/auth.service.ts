import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import { ApiError, UnauthorizedError } from '../errors.js';
import type { Principal, Role } from '../auth/permissions.js';
import { isRole } from '../auth/permissions.js';
import type { CredentialsRepository } from '../repositories/credentials.repository.js';
import type { AuditService } from './audit.service.js';
import type { Transactor } from '../repositories/transactor.js';

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** 256-bit random secrets, so a plain SHA-256 is enough to store them (no password KDF needed). */
export const newSecret = (prefix: string): string => `${prefix}${randomBytes(32).toString('base64url')}`;

export class AuthService {
  constructor(
    private readonly repo: CredentialsRepository,
    private readonly tx: Transactor,
    private readonly audit: AuditService,
    private readonly now: Clock,
    private readonly accessTokenSeconds: number,
  ) {}

  /** Creates the first admin token when the store has none; answers it once, or null. */
  async bootstrapAdmin(): Promise<string | null> {
    if ((await this.repo.countTokens()) > 0) return null;
    return this.createToken('admin', 'initial admin', 'system');
  }

  async createToken(role: Role, name: string, actor: string): Promise<string> {
    const token = newSecret('cdn_');
    const id = randomUUID();
    await this.tx(async (u) => {
      await u.credentials.insertToken({ id, name, role, token_hash: sha256(token), kind: 'api', app_id: null, created_at: this.now().toISOString(), expires_at: null, revoked_at: null });
      await u.audit.append([this.audit.row({ actor, action: 'CreateApiToken', targetType: 'token', targetId: id, outcome: 'Succeeded', detail: { role, name } })]);
    });
    return token;
  }

  async createApp(role: Role, name: string, actor: string): Promise<{ clientId: string; clientSecret: string }> {
    const clientId = randomUUID();
    const clientSecret = newSecret('cds_');
    await this.tx(async (u) => {
      await u.credentials.insertApp({ client_id: clientId, name, role, secret_hash: sha256(clientSecret), created_at: this.now().toISOString() });
      await u.audit.append([this.audit.row({ actor, action: 'CreateApp', targetType: 'app', targetId: clientId, outcome: 'Succeeded', detail: { role, name } })]);
    });
    return { clientId, clientSecret };
  }

  /** OAuth2 client-credentials grant: an app's id and secret buy a short-lived bearer token. */
  async issueAccessToken(clientId: string, clientSecret: string): Promise<{ accessToken: string; expiresIn: number }> {
    const app = await this.repo.app(clientId);
    const ok = app !== undefined && timingSafeEqual(Buffer.from(app.secret_hash), Buffer.from(sha256(clientSecret)));
    if (!app || !ok) {
      // A wrong secret for a real app is audited under the app's name; an unknown client id is noise (metrics).
      if (app) await this.audit.record({ actor: `app:${app.name}`, action: 'IssueAccessToken', targetType: 'app', targetId: app.client_id, outcome: 'Failed' });
      throw new ApiError(401, 'invalid_client', 'Unknown client_id or wrong client_secret');
    }
    const token = newSecret('cda_');
    const now = this.now();
    await this.repo.deleteExpiredAccessTokens(now.toISOString());
    await this.repo.insertToken({
      id: randomUUID(),
      name: app.name,
      role: app.role,
      token_hash: sha256(token),
      kind: 'access',
      app_id: app.client_id,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.accessTokenSeconds * 1000).toISOString(),
      revoked_at: null,
    });
    return { accessToken: token, expiresIn: this.accessTokenSeconds };
  }

  /** Resolves a bearer token to who is calling; any failure is the same 401. */
  async authenticate(token: string): Promise<Principal> {
    const row = await this.repo.tokenByHash(sha256(token));
    if (!row || row.revoked_at) throw new UnauthorizedError('The token is not valid');
    if (row.expires_at && row.expires_at <= this.now().toISOString()) throw new UnauthorizedError('The token has expired; request a new one');
    if (!isRole(row.role)) throw new UnauthorizedError('The token has an unknown role');
    return { id: row.id, name: row.app_id ? `app:${row.name}` : row.name, role: row.role };
  }
}
