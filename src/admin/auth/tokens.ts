import { createHash, randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { ApiTokenModel, type ApiTokenDocument } from '../../db/models/api-token.js';
import type { ManagerRole } from '../../db/models/manager.js';

/**
 * API tokens: `scb_` + 32 random bytes in base64url. Only the sha256 of the whole token is stored (a
 * token has 256 bits of entropy, so a fast hash is enough: there is nothing to brute-force), and the
 * lookup is by that hash, so checking a token is one indexed read and revocation applies at once.
 */

export const TOKEN_PREFIX = 'scb_';
const TOKEN_PATTERN = /^scb_[A-Za-z0-9_-]{43}$/;
/** How many characters of the token are kept in clear to tell tokens apart in lists. */
const VISIBLE_PREFIX_LENGTH = TOKEN_PREFIX.length + 6;

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function looksLikeToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

export interface CreateTokenInput {
  readonly pageId: string;
  readonly name: string;
  readonly role: ManagerRole;
  readonly createdBy: string;
  readonly now: Date;
  readonly expiresAt?: Date | undefined;
}

/** Creates a token; the returned `token` is the only time it exists in clear. */
export async function createApiToken(
  input: CreateTokenInput,
): Promise<{ token: string; doc: ApiTokenDocument }> {
  const token = generateToken();
  const doc = await ApiTokenModel.create({
    pageId: input.pageId,
    name: input.name,
    role: input.role,
    tokenHash: hashToken(token),
    prefix: token.slice(0, VISIBLE_PREFIX_LENGTH),
    createdBy: input.createdBy,
    expiresAt: input.expiresAt,
    createdAt: input.now,
    updatedAt: input.now,
  });
  return { token, doc };
}

/** The live token for this value, or undefined (unknown, revoked or expired). */
export async function findLiveToken(token: string, now: Date): Promise<ApiTokenDocument | undefined> {
  if (!looksLikeToken(token)) return undefined;
  const doc = await ApiTokenModel.findOne({ tokenHash: hashToken(token) });
  if (!doc || doc.revokedAt || (doc.expiresAt && doc.expiresAt <= now)) return undefined;
  return doc;
}

const LAST_USED_GRANULARITY_MS = 60_000;

/** Records use at most once a minute per token, so busy automation does not write on every request. */
export async function touchToken(id: Types.ObjectId, now: Date): Promise<void> {
  await ApiTokenModel.updateOne(
    {
      _id: id,
      $or: [
        { lastUsedAt: null },
        { lastUsedAt: { $lt: new Date(now.getTime() - LAST_USED_GRANULARITY_MS) } },
      ],
    },
    { $set: { lastUsedAt: now } },
  );
}
