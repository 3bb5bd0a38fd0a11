import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import { ApiError, ConflictError, markAudited, NotFoundError, UnauthorizedError } from '../errors.js';
import type { Principal, Role } from '../auth/permissions.js';
import { isRole } from '../auth/permissions.js';
import type { CredentialsRepository } from '../repositories/credentials.repository.js';
import type { AuditEntry, AuditService } from './audit.service.js';
import type { Transactor } from '../repositories/transactor.js';
import type { AppRow, TokenRow } from '../repositories/credentials.repository.js';
import type { AppView, TokenView } from '../api/schemas.js';
import type { RevocationSignal } from '../events.js';

/** Who revokes: a signed-in principal, or the CLI on the data directory. */
export type Actor = Pick<Principal, 'id' | 'name'>;

/** Last use is recorded to the minute: at most one write a minute per credential, not one per request. */
export const LAST_USE_RESOLUTION_MS = 60_000;

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** 256-bit random secrets, so a plain SHA-256 is enough to store them (no password KDF needed). */
export const newSecret = (prefix: string): string => `${prefix}${randomBytes(32).toString('base64url')}`;

/**
 * The person the first start makes an account and an API token for: both act under this one name,
 * so the Action center, the timeline and the audit log show one admin, not "admin" and "initial admin".
 */
export const INITIAL_ADMIN = 'admin';

/**
 * How long a verified token is believed without asking the store again. A revocation through any
 * node clears every node's memory at once (the revocation signal); this bounds the rest, such as
 * `cordon token revoke --data-dir` run beside a live server.
 */
export const VERIFIED_TOKEN_MS = 2_000;
const VERIFIED_TOKENS_MAX = 10_000;

export class AuthService {
  /** Tokens recently found valid, by hash: a sender posting alerts costs one lookup a second or two, not one a request. */
  readonly #verified = new Map<string, { row: TokenRow; until: number }>();
  /** Revocations seen: a lookup that was under way when one happened is not remembered. */
  #revocations = 0;

  constructor(
    private readonly repo: CredentialsRepository,
    private readonly tx: Transactor,
    private readonly audit: AuditService,
    private readonly now: Clock,
    private readonly accessTokenSeconds: number,
    private readonly revocations?: RevocationSignal,
  ) {
    revocations?.subscribe(() => {
      this.#verified.clear();
      this.#revocations++;
    });
  }

  /**
   * Creates the first admin token when the store has none; answers it once, or null. It is the
   * initial admin's own token, so it acts under that person's name (a token acts under its name).
   */
  async bootstrapAdmin(): Promise<string | null> {
    if ((await this.repo.countTokens()) > 0) return null;
    return this.createToken('admin', INITIAL_ADMIN, 'system');
  }

  async createToken(role: Role, name: string, actor: string): Promise<string> {
    return (await this.createTokenWithId(role, name, actor)).token;
  }

  /** Creates an API token; answers its id (to list and revoke it by) and the secret, shown once. */
  async createTokenWithId(role: Role, name: string, actor: string): Promise<{ id: string; token: string }> {
    const token = newSecret('cdn_');
    const id = randomUUID();
    await this.tx(async (u) => {
      await u.credentials.insertToken({ id, name, role, token_hash: sha256(token), kind: 'api', app_id: null, created_at: this.now().toISOString(), expires_at: null, revoked_at: null, revoked_by: null, created_by: actor, last_used_at: null });
      await u.audit.append([this.audit.row({ actor, action: 'CreateApiToken', targetType: 'token', targetId: id, outcome: 'Succeeded', detail: { role, name } })]);
    });
    return { id, token };
  }

  async createApp(role: Role, name: string, actor: string): Promise<{ clientId: string; clientSecret: string }> {
    const clientId = randomUUID();
    const clientSecret = newSecret('cds_');
    await this.tx(async (u) => {
      await u.credentials.insertApp({ client_id: clientId, name, role, secret_hash: sha256(clientSecret), created_at: this.now().toISOString(), created_by: actor, last_used_at: null, revoked_at: null, revoked_by: null });
      await u.audit.append([this.audit.row({ actor, action: 'CreateApp', targetType: 'app', targetId: clientId, outcome: 'Succeeded', detail: { role, name } })]);
    });
    return { clientId, clientSecret };
  }

  /** OAuth2 client-credentials grant: an app's id and secret buy a short-lived bearer token. */
  async issueAccessToken(clientId: string, clientSecret: string): Promise<{ accessToken: string; expiresIn: number }> {
    const app = await this.repo.app(clientId);
    const ok = app !== undefined && timingSafeEqual(Buffer.from(app.secret_hash), Buffer.from(sha256(clientSecret)));
    // A revoked app fails as an unknown one does; only the audit record says why. A wrong secret
    // for a real app is audited under the app's name; an unknown client id is noise (metrics).
    if (!app || !ok || app.revoked_at) {
      if (app) await this.audit.record({ actor: `app:${app.name}`, action: 'IssueAccessToken', targetType: 'app', targetId: app.client_id, outcome: 'Failed', ...(ok && app.revoked_at ? { detail: { reason: 'revoked app' } } : {}) });
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
      revoked_by: null,
      created_by: `app:${app.name}`,
      last_used_at: null,
    });
    await this.#touchApp(app, now);
    return { accessToken: token, expiresIn: this.accessTokenSeconds };
  }

  /** Resolves a bearer token to who is calling; any failure is the same 401. */
  async authenticate(token: string): Promise<Principal> {
    const row = await this.#tokenRow(sha256(token));
    // A revoked token fails exactly as an unknown one does: no oracle for who holds a dead token.
    if (!row || row.revoked_at) throw new UnauthorizedError('The token is not valid');
    const now = this.now();
    if (row.expires_at && row.expires_at <= now.toISOString()) throw new UnauthorizedError('The token has expired; request a new one');
    if (!isRole(row.role)) throw new UnauthorizedError('The token has an unknown role');
    await this.#touchToken(row, now);
    return { id: row.id, name: row.app_id ? `app:${row.name}` : row.name, role: row.role };
  }

  async #tokenRow(hash: string): Promise<TokenRow | undefined> {
    // Real time, not the injected clock: this is about how stale the memory may be, not about business time.
    const at = performance.now();
    const known = this.#verified.get(hash);
    if (known && known.until > at) return known.row;
    const seen = this.#revocations;
    const row = await this.repo.tokenByHash(hash);
    if (this.#verified.size >= VERIFIED_TOKENS_MAX) this.#verified.clear();
    // Only live tokens are remembered (an unknown or revoked one is asked about every time), and
    // only when no revocation happened while the store was being asked.
    if (row && !row.revoked_at && seen === this.#revocations) this.#verified.set(hash, { row, until: at + VERIFIED_TOKEN_MS });
    else this.#verified.delete(hash);
    return row;
  }

  /** API tokens and live access tokens, newest first; never a secret or its hash. */
  async listTokens(top: number, skip: number): Promise<TokenView[]> {
    await this.repo.deleteExpiredAccessTokens(this.now().toISOString());
    return (await this.repo.listTokens(top, skip)).map(tokenView);
  }

  /** Revokes an API token or one access token; the revocation and its audit record are stored together. */
  async revokeToken(actor: Actor, id: string, comment: string): Promise<TokenView> {
    const row = await this.repo.tokenById(id);
    if (!row) throw new NotFoundError('Token', id);
    const time = this.now().toISOString();
    const entry = { actor: actor.name, action: 'RevokeApiToken', targetType: 'token' as const, targetId: id, comment, detail: { name: row.name, role: row.role, kind: row.kind, appId: row.app_id } };
    const revoked = await this.tx(async (u) => {
      if (!(await u.credentials.revokeToken(id, time, actor.name))) return false;
      await u.audit.append([this.audit.row({ ...entry, outcome: 'Succeeded' }, time)]);
      return true;
    });
    if (!revoked) return this.#alreadyRevoked(entry, 'Token', id);
    this.revocations?.revoked();
    return tokenView((await this.repo.tokenById(id))!);
  }

  async listApps(top: number, skip: number): Promise<AppView[]> {
    return (await this.repo.listApps(top, skip)).map(appView);
  }

  /** Revokes an app: its secret buys no more access tokens, and the ones it holds stop working at once. */
  async revokeApp(actor: Actor, clientId: string, comment: string): Promise<AppView> {
    const app = await this.repo.app(clientId);
    if (!app) throw new NotFoundError('App', clientId);
    const time = this.now().toISOString();
    const entry = { actor: actor.name, action: 'RevokeApp', targetType: 'app' as const, targetId: clientId, comment };
    const revoked = await this.tx(async (u) => {
      if (!(await u.credentials.revokeApp(clientId, time, actor.name))) return false;
      const accessTokensRevoked = await u.credentials.revokeAccessTokensOf(clientId, time, actor.name);
      await u.audit.append([this.audit.row({ ...entry, outcome: 'Succeeded', detail: { name: app.name, role: app.role, accessTokensRevoked } }, time)]);
      return true;
    });
    if (!revoked) return this.#alreadyRevoked({ ...entry, detail: { name: app.name } }, 'App', clientId);
    this.revocations?.revoked();
    return appView((await this.repo.app(clientId))!);
  }

  /** A second revocation changes nothing: it is refused (409) and the refusal audited. */
  async #alreadyRevoked(entry: Omit<AuditEntry, 'outcome'>, what: string, id: string): Promise<never> {
    await this.audit.record({ ...entry, outcome: 'Refused', detail: { ...entry.detail, reason: 'already revoked' } });
    throw markAudited(new ConflictError(`${what} ${id} was revoked already`, 'AlreadyRevoked', 'id'));
  }

  async #touchToken(row: TokenRow, now: Date): Promise<void> {
    if (row.last_used_at && Date.parse(row.last_used_at) >= now.getTime() - LAST_USE_RESOLUTION_MS) return;
    const staleBefore = new Date(now.getTime() - LAST_USE_RESOLUTION_MS).toISOString();
    await this.repo.touchToken(row.id, now.toISOString(), staleBefore);
    // The remembered row too, or each request until it is read again would touch it once more.
    row.last_used_at = now.toISOString();
    if (row.app_id) await this.repo.touchApp(row.app_id, now.toISOString(), staleBefore);
  }

  async #touchApp(app: AppRow, now: Date): Promise<void> {
    const staleBefore = new Date(now.getTime() - LAST_USE_RESOLUTION_MS).toISOString();
    if (app.last_used_at && app.last_used_at >= staleBefore) return;
    await this.repo.touchApp(app.client_id, now.toISOString(), staleBefore);
  }
}

function tokenView(r: TokenRow): TokenView {
  return { id: r.id, name: r.name, role: r.role, kind: r.kind, appId: r.app_id, createdAt: r.created_at, createdBy: r.created_by, lastUsedAt: r.last_used_at, expiresAt: r.expires_at, revokedAt: r.revoked_at, revokedBy: r.revoked_by };
}

function appView(r: AppRow): AppView {
  return { clientId: r.client_id, name: r.name, role: r.role, createdAt: r.created_at, createdBy: r.created_by, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at, revokedBy: r.revoked_by };
}
