import { LeaseModel } from './models/lease.js';

const DUPLICATE_KEY = 11000;

/**
 * Named leases in MongoDB: the only cross-process lock we use. Acquire is one atomic upsert; a live
 * lease held by someone else makes the upsert collide on `_id`, which means "not yours".
 */
export async function tryAcquireLease(
  name: string,
  holder: string,
  ttlMs: number,
  now: Date,
): Promise<boolean> {
  try {
    await LeaseModel.collection.findOneAndUpdate(
      { _id: name as never, $or: [{ until: { $lte: now } }, { holder }] },
      { $set: { holder, until: new Date(now.getTime() + ttlMs) } },
      { upsert: true },
    );
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
    throw error;
  }
}

/** Extends a lease we still hold; false when it was lost (expired and taken by someone else). */
export async function renewLease(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean> {
  const result = await LeaseModel.collection.updateOne(
    { _id: name as never, holder },
    { $set: { until: new Date(now.getTime() + ttlMs) } },
  );
  return result.matchedCount === 1;
}

export async function releaseLease(name: string, holder: string): Promise<void> {
  await LeaseModel.collection.deleteOne({ _id: name as never, holder });
}
