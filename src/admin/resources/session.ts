import { z } from 'zod';
import { ManagerModel } from '../../db/models/manager.js';
import { recordAudit } from '../audit.js';
import { checkLogin } from '../auth/accounts.js';
import { rateLimited, type Limiters } from '../auth/authenticate.js';
import { clearedSessionCookie, createSession, destroySession, sessionCookie } from '../auth/sessions.js';
import { AdminError } from '../errors.js';
import { publicRoute, route, type AdminRoute } from '../http.js';
import { email, role } from '../schemas.js';

const TAG = 'session';

/** Signing in and out of the dashboard. Needs the login rate limiters, hence a factory. */
export function sessionRoutes(deps: { limiters: Limiters }): AdminRoute[] {
  const { limiters } = deps;
  return [
    publicRoute({
      method: 'post',
      path: '/session',
      tag: TAG,
      summary: 'Sign in: sets the session cookie and returns the CSRF token for unsafe requests',
      body: z.object({
        email,
        password: z.string().min(1).max(256),
        pageId: z
          .string()
          .regex(/^\d{1,32}$/)
          .optional()
          .describe('Defaults to the configured Page'),
      }),
      response: z.object({
        csrfToken: z.string(),
        expiresAt: z.date(),
        manager: z.object({ id: z.string(), email: z.string(), role }),
      }),
      status: 201,
      handler: async (ctx, { body }, http) => {
        const pageId = body.pageId ?? ctx.config.facebook.page.id;
        const ip = ctx.ip ?? 'unknown';
        const perIp = limiters.loginPerIp.hit(`login-ip:${ip}`);
        const key = `login:${pageId}:${body.email}:${ip}`;
        const perAccount = limiters.login.hit(key);
        if (!perIp.allowed || !perAccount.allowed) {
          ctx.log.warn({ email: body.email, ip }, 'admin login refused: too many attempts');
          throw rateLimited(Math.max(perIp.retryAfterMs, perAccount.retryAfterMs), 'sign-in attempts');
        }
        const result = await checkLogin(pageId, body.email, body.password);
        if (!result.ok) {
          ctx.log.warn({ email: body.email, ip, pageId, reason: result.reason }, 'admin login failed');
          throw new AdminError(
            'unauthenticated',
            'Wrong e-mail address or password',
            null,
            'invalid_credentials',
          );
        }
        limiters.login.reset(key);
        const { manager } = result;
        const session = await createSession({
          pageId,
          managerId: manager._id,
          now: ctx.now,
          ip: ctx.ip,
          userAgent: ctx.userAgent,
        });
        await ManagerModel.updateOne({ _id: manager._id }, { $set: { lastLoginAt: ctx.now } });
        await recordAudit(
          { ...ctx, pageId, actor: { kind: 'manager', id: manager.id, label: manager.email } },
          { action: 'session.create', target: { type: 'session', id: session.doc.id } },
        );
        ctx.log.info({ managerId: manager.id, ip }, 'admin login');
        http.setHeader('Set-Cookie', sessionCookie(session.sessionId, http.cookieOptions));
        return {
          csrfToken: session.csrfToken,
          expiresAt: session.doc.expiresAt,
          manager: { id: manager.id, email: manager.email, role: manager.role },
        };
      },
    }),

    route({
      method: 'delete',
      path: '/session',
      tag: TAG,
      summary: 'Sign out (session requests only)',
      role: 'viewer',
      selfService: true,
      status: 204,
      handler: async (ctx, _input, http) => {
        const session = ctx.principal.session;
        if (!session) {
          throw new AdminError(
            'validation',
            'Only a session can sign out; revoke a token instead',
            null,
            'not_a_session',
          );
        }
        await destroySession(session.id);
        await recordAudit(ctx, {
          action: 'session.delete',
          target: { type: 'manager', id: ctx.principal.id },
        });
        http.setHeader('Set-Cookie', clearedSessionCookie(http.cookieOptions));
      },
    }),
  ];
}
