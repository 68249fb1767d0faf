import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Types } from 'mongoose';
import { AdminSessionModel, type AdminSessionDocument } from '../../db/models/admin-session.js';

/**
 * Dashboard sessions. The cookie holds 32 random bytes; the database only their sha256, so a leaked
 * collection cannot be replayed. The CSRF token is derived from the session id (HMAC keyed by it), so the
 * server can hand it out again on any authenticated request without storing it, and a cross-site page —
 * which can make the browser send the cookie but cannot read it — cannot compute it.
 */

export const SESSION_COOKIE = 'scb_admin_session';
export const CSRF_HEADER = 'x-csrf-token';
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
export const SESSION_IDLE_MS = 2 * 60 * 60 * 1000;
const TOUCH_GRANULARITY_MS = 60_000;

const sha256 = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

export function csrfTokenFor(sessionId: string): string {
  return createHmac('sha256', sessionId).update('csrf-v1').digest('base64url');
}

export function verifyCsrf(sessionId: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(csrfTokenFor(sessionId));
  const actual = Buffer.from(header);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export interface NewSession {
  readonly sessionId: string;
  readonly csrfToken: string;
  readonly doc: AdminSessionDocument;
}

export async function createSession(input: {
  pageId: string;
  managerId: Types.ObjectId;
  now: Date;
  ip?: string | undefined;
  userAgent?: string | undefined;
}): Promise<NewSession> {
  const sessionId = randomBytes(32).toString('base64url');
  const doc = await AdminSessionModel.create({
    pageId: input.pageId,
    managerId: input.managerId,
    idHash: sha256(sessionId),
    createdAt: input.now,
    lastSeenAt: input.now,
    expiresAt: new Date(input.now.getTime() + SESSION_TTL_MS),
    ip: input.ip,
    userAgent: input.userAgent?.slice(0, 300),
  });
  return { sessionId, csrfToken: csrfTokenFor(sessionId), doc };
}

/** The live session for a cookie value, or undefined (unknown, expired, idle too long). */
export async function findLiveSession(
  sessionId: string,
  now: Date,
): Promise<AdminSessionDocument | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(sessionId)) return undefined;
  const doc = await AdminSessionModel.findOne({ idHash: sha256(sessionId) });
  if (!doc) return undefined;
  if (doc.expiresAt <= now || now.getTime() - doc.lastSeenAt.getTime() > SESSION_IDLE_MS) return undefined;
  if (now.getTime() - doc.lastSeenAt.getTime() > TOUCH_GRANULARITY_MS) {
    await AdminSessionModel.updateOne({ _id: doc._id }, { $set: { lastSeenAt: now } });
  }
  return doc;
}

export async function destroySession(sessionId: string): Promise<void> {
  await AdminSessionModel.deleteOne({ idHash: sha256(sessionId) });
}

export async function destroySessionsOf(pageId: string, managerId: Types.ObjectId): Promise<number> {
  const res = await AdminSessionModel.deleteMany({ pageId, managerId });
  return res.deletedCount;
}

export interface CookieOptions {
  readonly secure: boolean;
  readonly path: string;
}

export function sessionCookie(sessionId: string, opts: CookieOptions): string {
  return [
    `${SESSION_COOKIE}=${sessionId}`,
    `Path=${opts.path}`,
    `Max-Age=${Math.floor(SESSION_TTL_MS / 1000)}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

export function clearedSessionCookie(opts: CookieOptions): string {
  return [
    `${SESSION_COOKIE}=`,
    `Path=${opts.path}`,
    'Max-Age=0',
    'HttpOnly',
    'SameSite=Strict',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

/** A minimal RFC 6265 `Cookie` header parser (first value wins, values left as sent). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}
