import { Schema, model } from 'mongoose';

/** Named sequences (`order:<pageId>` → 1, 2, 3...). Each number is handed out by one atomic `$inc`. */
const counterSchema = new Schema(
  {
    _id: { type: String, required: true },
    seq: { type: Number, required: true, default: 0 },
  },
  { versionKey: false },
);

export const CounterModel = model('Counter', counterSchema, 'counters');

const DUPLICATE_KEY = 11000;

/**
 * The next number of a sequence, starting at 1. One `findOneAndUpdate` with `$inc` and upsert: two
 * callers never get the same number. (Two first calls may race on the upsert; the loser retries and
 * increments the document the winner created.) Numbers are never reused, so gaps are possible.
 */
export async function nextSequence(name: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      const doc = await CounterModel.findOneAndUpdate(
        { _id: String(name) },
        { $inc: { seq: 1 } },
        { upsert: true, returnDocument: 'after' },
      ).lean<{ seq: number }>();
      if (!doc) throw new Error(`counter ${name}: no document after upsert`);
      return doc.seq;
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY || attempt >= 2) throw error;
    }
  }
}
