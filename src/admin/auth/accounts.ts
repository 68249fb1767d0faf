import { Types } from 'mongoose';
import { ManagerModel, type ManagerDocument, type ManagerRole } from '../../db/models/manager.js';
import { AdminError, conflict, isDuplicateKeyError, notFound } from '../errors.js';
import { hashPassword, passwordProblem, verifyAgainstDummy, verifyPassword } from './passwords.js';
import { destroySessionsOf } from './sessions.js';

/** Manager accounts: the rules (unique address per page, always one active owner) live here. */

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function createManager(input: {
  pageId: string;
  email: string;
  role: ManagerRole;
  password: string;
  createdBy: string;
  now: Date;
}): Promise<ManagerDocument> {
  const problem = passwordProblem(input.password);
  if (problem) {
    throw new AdminError('validation', `password ${problem}`, {
      issues: [{ path: ['password'], message: problem }],
    });
  }
  try {
    return await ManagerModel.create({
      pageId: input.pageId,
      email: normalizeEmail(input.email),
      role: input.role,
      passwordHash: await hashPassword(input.password),
      createdBy: input.createdBy,
      createdAt: input.now,
      updatedAt: input.now,
    });
  } catch (err) {
    if (isDuplicateKeyError(err)) {
      throw conflict(
        `a manager with address ${normalizeEmail(input.email)} already exists`,
        null,
        'email_taken',
      );
    }
    throw err;
  }
}

async function activeOwnerCount(pageId: string): Promise<number> {
  return ManagerModel.countDocuments({ pageId, role: 'owner', disabledAt: null });
}

export interface ManagerChange {
  readonly role?: ManagerRole | undefined;
  readonly disabled?: boolean | undefined;
}

/**
 * Changes role and/or disabled state. Refuses (409) to leave the page without an active owner.
 * Disabling ends the manager's sessions at once. Returns the document before and after.
 */
export async function updateManager(
  pageId: string,
  id: string,
  change: ManagerChange,
  now: Date,
): Promise<{ before: ManagerDocument; after: ManagerDocument }> {
  const before = await ManagerModel.findOne({ _id: new Types.ObjectId(id), pageId });
  if (!before) throw notFound('manager', id);
  const losesOwner =
    before.role === 'owner' &&
    !before.disabledAt &&
    ((change.role !== undefined && change.role !== 'owner') || change.disabled === true);
  if (losesOwner && (await activeOwnerCount(pageId)) <= 1) {
    throw conflict('the page must keep at least one active owner', { id }, 'last_owner');
  }
  const set: Record<string, unknown> = { updatedAt: now };
  const unset: Record<string, ''> = {};
  if (change.role !== undefined) set.role = change.role;
  if (change.disabled === true && !before.disabledAt) set.disabledAt = now;
  if (change.disabled === false) unset.disabledAt = '';
  const after = await ManagerModel.findOneAndUpdate(
    { _id: before._id, pageId },
    { $set: set, ...(Object.keys(unset).length ? { $unset: unset } : {}) },
    { returnDocument: 'after' },
  );
  if (!after) throw notFound('manager', id);
  if (change.disabled === true) await destroySessionsOf(pageId, before._id);
  return { before, after };
}

/**
 * Checks an address and password. Unknown addresses cost the same time as known ones; disabled accounts
 * fail like a wrong password (the reason is returned for the log, never to the client).
 */
export async function checkLogin(
  pageId: string,
  email: string,
  password: string,
): Promise<
  { ok: true; manager: ManagerDocument } | { ok: false; reason: 'unknown' | 'password' | 'disabled' }
> {
  const manager = await ManagerModel.findOne({ pageId, email: normalizeEmail(email) });
  if (!manager) {
    await verifyAgainstDummy(password);
    return { ok: false, reason: 'unknown' };
  }
  const valid = await verifyPassword(password, manager.passwordHash);
  if (!valid) return { ok: false, reason: 'password' };
  if (manager.disabledAt) return { ok: false, reason: 'disabled' };
  return { ok: true, manager };
}
