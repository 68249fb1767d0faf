/**
 * Found while tracing where fan identifiers reach query filters (issue #11): erasing a fan removed
 * Botkit's dialog state by an unanchored regex on the PSID, so every key that merely contained it
 * (another fan's longer PSID) went too.
 */
import { expect } from 'chai';
import { eraseFan, type PrivacyContext } from '../../src/app/privacy.js';
import { BotStateModel } from '../../src/db/models/bot-state.js';
import { useTestDatabase } from '../unit/platform/mongo.js';

describe("privacy erasure leaves other fans' dialog state alone (regression)", () => {
  useTestDatabase();
  const pageId = '100000000000001';
  const ctx = (): PrivacyContext => ({
    pageId,
    now: new Date(),
    secret: 'test-secret-123',
    outboxRetentionMs: 86_400_000,
  });
  /** The keys Botkit writes for a fan: conversation state (`<psid>-<psid>`) and user state. */
  const keysOf = (psid: string) => [
    `facebook/conversations/${psid}-${psid}/botkit`,
    `facebook/users/${psid}`,
  ];

  it('erases only the keys of the fan named, not keys that contain its PSID', async () => {
    const fan = '612345678901234';
    const others = ['96123456789012345', '6123456789012340', '1612345678901234'];
    const later = new Date(Date.now() + 86_400_000);
    await BotStateModel.collection.insertMany(
      [fan, ...others].flatMap((psid) =>
        keysOf(psid).map((_id) => ({ _id, data: '{}', eTag: '1', updatedAt: new Date(), expiresAt: later })),
      ) as never[],
    );
    await eraseFan(ctx(), fan, 'fan_request');
    const left = (await BotStateModel.collection.find({}, { projection: { _id: 1 } }).toArray()).map((d) =>
      String(d._id),
    );
    expect(left.sort()).to.deep.equal(others.flatMap(keysOf).sort());
  });
});
