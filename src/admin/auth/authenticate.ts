import type { Request } from 'express';
import { ManagerModel } from '../../db/models/manager.js';
import type { Logger } from '../../log.js';
import type { Principal } from '../context.js';
import { AdminError } from '../errors.js';
import { createRateLimiter, type RateLimiter } from './rate-limit.js';
import {
  CSRF_HEADER,
  csrfTokenFor,
  destroySession,
  findLiveSession,
  parseCookies,
  SESSION_COOKIE,
  verifyCsrf,
} from './sessions.js';
import { findLiveToken, touchToken } from './tokens.js';

export interface LimitSpec {
  readonly limit: number;
  readonly windowMs: number;
}

export interface AdminLimits {
  /** Login attempts per (page, address, IP). */
  readonly login: LimitSpec;
  /** Login attempts per IP whatever the address (password spraying). */
  readonly loginPerIp: LimitSpec;
  /** Requests per token or session. */
  readonly use: LimitSpec;
  /** Requests with a bad token or session cookie per IP. */
  readonly badCredentials: LimitSpec;
}

export const DEFAULT_LIMITS: AdminLimits = Object.freeze({
  login: { limit: 10, windowMs: 15 * 60_000 },
  loginPerIp: { limit: 100, windowMs: 15 * 60_000 },
  use: { limit: 600, windowMs: 60_000 },
  badCredentials: { limit: 60, windowMs: 60_000 },
});

export interface Limiters {
  readonly login: RateLimiter;
  readonly loginPerIp: RateLimiter;
  readonly use: RateLimiter;
  readonly badCredentials: RateLimiter;
}

export function createLimiters(limits: AdminLimits, clock: () => Date): Limiters {
  return {
    login: createRateLimiter({ ...limits.login, clock }),
    loginPerIp: createRateLimiter({ ...limits.loginPerIp, clock }),
    use: createRateLimiter({ ...limits.use, clock }),
    badCredentials: createRateLimiter({ ...limits.badCredentials, clock }),
  };
}

export function rateLimited(retryAfterMs: number, what: string): AdminError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new AdminError(
    'rate_limited',
    `Too many ${what}; retry in ${seconds} s`,
    { retryAfterSeconds: seconds },
    undefined,
    seconds,
  );
}

export function clientIp(req: Request): string | undefined {
  return req.ip ?? req.socket.remoteAddress;
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function isUnsafeMethod(method: string): boolean {
  return UNSAFE_METHODS.has(method.toUpperCase());
}

/**
 * Who is calling: a bearer token, else the session cookie. Token requests need no CSRF token (a browser
 * never adds an Authorization header by itself); cookie requests with an unsafe method do.
 */
export async function authenticate(
  req: Request,
  deps: { now: Date; limiters: Limiters; log: Logger },
): Promise<Principal> {
  const ip = clientIp(req) ?? 'unknown';
  const badKey = `bad:${ip}`;
  const authorization = req.get('authorization');
  const cookie = parseCookies(req.get('cookie')).get(SESSION_COOKIE);

  const refuse = (code: string, message: string): AdminError => {
    const hit = deps.limiters.badCredentials.hit(badKey);
    if (!hit.allowed) return rateLimited(hit.retryAfterMs, 'requests with bad credentials');
    return new AdminError('unauthenticated', message, null, code);
  };

  if (authorization !== undefined) {
    const match = /^Bearer ([^\s]+)$/i.exec(authorization.trim());
    if (!match) throw refuse('bad_authorization', 'Authorization must be "Bearer <token>"');
    const token = await findLiveToken(match[1]!, deps.now);
    if (!token) {
      deps.log.warn({ ip }, 'admin API: unknown, expired or revoked token');
      throw refuse('invalid_token', 'The token is unknown, expired or revoked');
    }
    const use = deps.limiters.use.hit(`token:${token.id}`);
    if (!use.allowed) throw rateLimited(use.retryAfterMs, 'requests for this token');
    touchToken(token._id, deps.now).catch((err: unknown) =>
      deps.log.warn({ err, tokenId: token.id }, 'could not record token use'),
    );
    return { kind: 'token', id: token.id, label: token.name, role: token.role, pageId: token.pageId };
  }

  if (cookie === undefined || cookie === '') {
    throw new AdminError('unauthenticated', 'Sign in or send "Authorization: Bearer <token>"');
  }
  const session = await findLiveSession(cookie, deps.now);
  if (!session) throw refuse('session_expired', 'The session has expired; sign in again');
  const manager = await ManagerModel.findOne({ _id: session.managerId, pageId: session.pageId });
  if (!manager || manager.disabledAt) {
    await destroySession(cookie);
    throw refuse('session_expired', 'The session has expired; sign in again');
  }
  if (isUnsafeMethod(req.method) && !verifyCsrf(cookie, req.get(CSRF_HEADER))) {
    throw new AdminError(
      'forbidden',
      'Missing or wrong X-CSRF-Token header (session requests that change something need it)',
      null,
      'csrf_failed',
    );
  }
  const use = deps.limiters.use.hit(`session:${session.id}`);
  if (!use.allowed) throw rateLimited(use.retryAfterMs, 'requests for this session');
  return {
    kind: 'session',
    id: manager.id,
    label: manager.email,
    role: manager.role,
    pageId: manager.pageId,
    session: { id: cookie, csrfToken: csrfTokenFor(cookie) },
  };
}
