import { randomUUID } from 'node:crypto';
import type { Storage, StoreItems } from 'botbuilder';
import { BotStateModel } from '../../db/models/bot-state.js';

export class ETagConflictError extends Error {
  constructor(key: string) {
    super(`dialog state for ${key} was changed by another turn (eTag mismatch)`);
    this.name = 'ETagConflictError';
  }
}

/**
 * botbuilder `Storage` on MongoDB. State is stored as JSON text, so mongoose's `minimize` or a key
 * with a dot cannot reshape it; a stale eTag refuses the write instead of losing the other turn's state.
 */
export class MongoStorage implements Storage {
  constructor(
    private readonly ttlMs: number = 30 * 86_400_000,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async read(keys: string[]): Promise<StoreItems> {
    if (keys.length === 0) return {};
    const docs = await BotStateModel.collection.find({ _id: { $in: keys as never[] } }).toArray();
    const items: StoreItems = {};
    for (const doc of docs) {
      items[String(doc._id)] = { ...(JSON.parse(String(doc.data)) as object), eTag: doc.eTag };
    }
    return items;
  }

  async write(changes: StoreItems): Promise<void> {
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.ttlMs);
    for (const [key, item] of Object.entries(changes)) {
      const { eTag, ...rest } = (item ?? {}) as { eTag?: string } & Record<string, unknown>;
      const data = JSON.stringify(rest);
      const newTag = randomUUID();
      if (eTag === undefined || eTag === '*') {
        await BotStateModel.collection.updateOne(
          { _id: key as never },
          { $set: { data, eTag: newTag, updatedAt: now, expiresAt } },
          { upsert: true },
        );
        continue;
      }
      const result = await BotStateModel.collection.updateOne(
        { _id: key as never, eTag },
        { $set: { data, eTag: newTag, updatedAt: now, expiresAt } },
      );
      if (result.matchedCount === 0) throw new ETagConflictError(key);
    }
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await BotStateModel.collection.deleteMany({ _id: { $in: keys as never[] } });
  }
}
