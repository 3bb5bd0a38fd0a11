import { permissionsOf } from '../auth/permissions.js';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf, SESSION_COOKIE } from '../http/app.js';
import type { UsersService } from '../services/users.service.js';
import { answers, Me, NoContent, SignInResult } from '../api/schemas.js';

const SignInBody = z.strictObject({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) });

/** Console sign-in: a session cookie for people; scripts keep using bearer tokens. */
export function sessionsRoutes(users: UsersService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['sign-in'];

    app.post('/auth/signin', { config: { access: 'public' }, schema: { tags, summary: 'Sign in with a user name and password (sets the session cookie)', body: SignInBody, response: answers({ 200: SignInResult }) } }, async (req, reply) => {
      const s = await users.signIn(req.body.username, req.body.password, req.ip);
      void reply.setCookie(SESSION_COOKIE, s.sessionId, { httpOnly: true, sameSite: 'strict', path: '/', secure: req.protocol === 'https', expires: new Date(s.expiresAt) });
      return { user: s.user, csrfToken: s.csrfToken, expiresAt: s.expiresAt };
    });

    app.post('/auth/signout', { config: { access: 'machines.read' }, schema: { tags, summary: 'Sign out (ends the session)', response: answers({ 204: NoContent }) } }, async (req, reply) => {
      if (req.session) await users.signOut(req.session.id);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    });

    app.get('/auth/me', { config: { access: 'machines.read' }, schema: { tags, summary: 'Who is signed in (and, for a session, its CSRF token)', response: answers({ 200: Me }) } }, async (req) => {
      const p = principalOf(req);
      return { name: p.name, role: p.role, permissions: permissionsOf(p.role), csrfToken: req.session?.csrfToken ?? null };
    });
  };
}
