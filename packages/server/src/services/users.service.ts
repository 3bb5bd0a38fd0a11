import { createHash, randomBytes, randomUUID, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { MemoryCounters, type Counter, type Counters } from './counters.js';
import type { Clock } from '../clock.js';
import { ApiError, BadRequestError, ConflictError, markAudited, NotFoundError, TooManyRequestsError, UnauthorizedError } from '../errors.js';
import { isRankedRole, type Principal, type Role } from '../auth/permissions.js';
import type { UserRow, UsersRepository } from '../repositories/users.repository.js';
import type { UserView } from '../api/schemas.js';
import type { RevocationSignal } from '../events.js';
import { INITIAL_ADMIN, LAST_USE_RESOLUTION_MS, type Actor } from './auth.service.js';
import type { Transactor } from '../repositories/transactor.js';
import type { AuditService } from './audit.service.js';

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 };
/** scrypt's cost (N) for new hashes; each hash keeps its own, so a lower one only affects hashes made with it. */
export const DEFAULT_PASSWORD_COST = SCRYPT.N;
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
const SESSION_HOURS = 12;
/** Failed sign-ins allowed per user and address before each further try must wait, doubling up to 15 minutes. */
const FREE_FAILURES = 5;

/** After the free failures, each more doubles the wait from the latest (1 s, 2 s, … at most 15 minutes). */
function lockedUntilAfter(f: Counter): number {
  return f.count > FREE_FAILURES ? f.lastAt + Math.min(15 * 60_000, 1000 * 2 ** (f.count - FREE_FAILURES)) : 0;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A password as stored: scrypt with a random salt and its parameters, so they can be raised later. */
export async function hashPassword(password: string, cost = DEFAULT_PASSWORD_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.keylen, { N: cost, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT.maxmem });
  return `scrypt$${cost}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const [kind, n, r, p, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const want = Buffer.from(key, 'base64');
  const got = await scryptAsync(password, Buffer.from(salt, 'base64'), want.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return timingSafeEqual(got, want);
}

export interface SignedIn {
  sessionId: string;
  csrfToken: string;
  expiresAt: string;
  user: { name: string; role: Role };
}

/**
 * People who sign in to the console. Passwords are hashed with scrypt; a session is a random id
 * in an HttpOnly cookie (only its hash is stored) with a CSRF token that state-changing requests
 * must echo in a header. Repeated failed sign-ins for one user from one address are slowed down.
 */
export class UsersService {
  /** A real hash to check against when the user does not exist, so timing does not tell. */
  #decoy?: Promise<string>;

  constructor(
    private readonly repo: UsersRepository,
    private readonly tx: Transactor,
    private readonly audit: AuditService,
    private readonly now: Clock,
    private readonly revocations?: RevocationSignal,
    /** Failed sign-ins per user name and address; shared by every node on one store. */
    private readonly failures: Counters = new MemoryCounters(),
    /** scrypt's N for new passwords: the in-process test harness lowers it (a hash costs ~100 ms at the default). */
    private readonly passwordCost = DEFAULT_PASSWORD_COST,
  ) {}

  /** The first admin account, made on the first start; its password is answered once, or null. */
  async bootstrapAdmin(): Promise<string | null> {
    if ((await this.repo.count()) > 0) return null;
    return (await this.createUser(INITIAL_ADMIN, null, 'admin', 'system')).password;
  }

  /** Creates an account; without a password, a strong one is generated and answered once. */
  async createUser(username: string, password: string | null, role: string, actor: string): Promise<{ username: string; password: string }> {
    if (!USERNAME.test(username)) throw new BadRequestError('A user name is 1 to 64 letters, digits or . _ @ -', 'username');
    if (!isRankedRole(role)) throw new BadRequestError('role must be viewer, analyst, responder or admin', 'role');
    const pw = password ?? randomBytes(15).toString('base64url');
    if (pw.length < 12) throw new BadRequestError('A password has at least 12 characters', 'password');
    if (await this.repo.byUsername(username)) throw new ApiError(409, 'Conflict', `The user ${username} already exists`, 'username');
    const id = randomUUID();
    const passwordHash = await hashPassword(pw, this.passwordCost);
    await this.tx(async (u) => {
      await u.users.insert({ id, username, password_hash: passwordHash, role, created_at: this.now().toISOString(), disabled_at: null, disabled_by: null, created_by: actor, last_used_at: null });
      await u.audit.append([this.audit.row({ actor, action: 'CreateUser', targetType: 'user', targetId: id, outcome: 'Succeeded', detail: { username, role } })]);
    });
    return { username, password: pw };
  }

  async signIn(username: string, password: string, address: string): Promise<SignedIn> {
    const key = `signin:${username.toLowerCase()}|${address}`;
    const now = this.now().getTime();
    // Every attempt counts as a failure before the password is checked (a success forgets them),
    // and the check and the count are one step per user and address on every node: guesses sent
    // at once do not all pass the lockout check first. Failures are forgotten 15 minutes after the latest.
    await this.failures.exclusive(key, async () => {
      const f = await this.failures.peek(key, now);
      const lockedUntil = f ? lockedUntilAfter(f) : 0;
      if (lockedUntil > now) throw new TooManyRequestsError(Math.ceil((lockedUntil - now) / 1000));
      await this.failures.hit(key, 15 * 60_000, now, { slide: true });
    });
    const user = await this.repo.byUsername(username);
    this.#decoy ??= hashPassword(randomBytes(16).toString('hex'), this.passwordCost);
    const ok = (await verifyPassword(user?.password_hash ?? (await this.#decoy), password)) && user !== undefined && !user.disabled_at && isRankedRole(user.role);
    if (!ok || !user) {
      // A failure for a real account is audited under its name; an unknown user name is noise (metrics).
      if (user) await this.audit.record({ actor: user.username, action: 'SignIn', targetType: 'user', targetId: user.id, outcome: 'Failed', detail: { address } });
      throw new UnauthorizedError('Wrong user name or password');
    }
    await this.failures.reset(key);
    const sessionId = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now + SESSION_HOURS * 3600_000).toISOString();
    await this.repo.deleteExpiredSessions(new Date(now).toISOString());
    await this.tx(async (u) => {
      await u.users.insertSession({ id_hash: sha256(sessionId), user_id: user.id, csrf_token: csrfToken, created_at: new Date(now).toISOString(), expires_at: expiresAt });
      await u.users.touch(user.id, new Date(now).toISOString());
      await u.audit.append([this.audit.row({ actor: user.username, action: 'SignIn', targetType: 'user', targetId: user.id, outcome: 'Succeeded', detail: { address } })]);
    });
    return { sessionId, csrfToken, expiresAt, user: { name: user.username, role: user.role as Role } };
  }

  /** The signed-in user of a session cookie, with the CSRF token its state-changing requests must carry. */
  async authenticateSession(sessionId: string): Promise<{ principal: Principal; csrfToken: string }> {
    const s = await this.repo.session(sha256(sessionId));
    if (!s || s.disabled_at || !isRankedRole(s.role)) throw new UnauthorizedError('Your session is not valid; sign in again');
    const now = this.now();
    if (s.expires_at <= now.toISOString()) throw new UnauthorizedError('Your session has expired; sign in again');
    const staleBefore = new Date(now.getTime() - LAST_USE_RESOLUTION_MS).toISOString();
    if (!s.last_used_at || s.last_used_at < staleBefore) await this.repo.touch(s.user_id, now.toISOString(), staleBefore);
    return { principal: { id: `user:${s.user_id}`, name: s.username, role: s.role }, csrfToken: s.csrf_token };
  }

  async signOut(sessionId: string): Promise<void> {
    await this.repo.deleteSession(sha256(sessionId));
  }

  /** Console accounts, by name; never a password hash. */
  async list(top: number, skip: number): Promise<UserView[]> {
    return (await this.repo.list(top, skip)).map(userView);
  }

  /**
   * Disables an account: its sessions end at once (deleted in the same transaction as the change
   * and its audit record) and sign-in is refused as for a wrong password. A signed-in admin cannot
   * disable their own account: another admin (or the CLI on the server) must.
   */
  async disable(actor: Actor, username: string, comment: string): Promise<UserView> {
    const user = await this.repo.byUsername(username);
    if (!user) throw new NotFoundError('User', username);
    if (actor.id === `user:${user.id}`) throw new ConflictError('You cannot disable your own account; ask another admin', 'Conflict', 'username');
    const time = this.now().toISOString();
    const entry = { actor: actor.name, action: 'DisableUser', targetType: 'user' as const, targetId: user.id, comment };
    const disabled = await this.tx(async (u) => {
      if (!(await u.users.disable(user.id, time, actor.name))) return false;
      const sessionsEnded = await u.users.deleteSessionsOf(user.id);
      await u.audit.append([this.audit.row({ ...entry, outcome: 'Succeeded', detail: { username, role: user.role, sessionsEnded } }, time)]);
      return true;
    });
    if (!disabled) {
      await this.audit.record({ ...entry, outcome: 'Refused', detail: { username, reason: 'already disabled' } });
      throw markAudited(new ConflictError(`The user ${username} was disabled already`, 'AlreadyDisabled', 'username'));
    }
    this.revocations?.revoked();
    return userView((await this.repo.byId(user.id))!);
  }
}

function userView(r: UserRow): UserView {
  return { id: r.id, username: r.username, role: r.role, createdAt: r.created_at, createdBy: r.created_by, lastUsedAt: r.last_used_at, disabledAt: r.disabled_at, disabledBy: r.disabled_by };
}
