import { expect } from 'chai';
import { FanModel } from '../../../src/db/models/fan.js';
import type { GraphClient } from '../../../src/messenger/graph/client.js';
import { FanRegistry } from '../../../src/messenger/fans.js';
import { silentLogger } from '../../../src/log.js';
import { useTestDatabase } from './mongo.js';

describe('FanRegistry.recordInteraction (MongoDB)', () => {
  const db = useTestDatabase();
  beforeEach(() => db.clear());

  const graph = {
    getProfile: () => Promise.reject(new Error('no profile available')),
  } as unknown as GraphClient;
  const fans = new FanRegistry({
    graph,
    page: { id: '100000000000099', accessToken: 'token-token-token-token' },
    defaultLocale: 'it',
    log: silentLogger,
  });

  it('a fan is new for the event that created it, also when that event is processed again', async () => {
    const first = new Date('2026-05-01T10:00:00Z');
    expect((await fans.recordInteraction('2400000000000001', first, true)).isNew).to.equal(true);
    // A crash after the upsert and before the turn was written: the retry must still greet and disclose.
    expect((await fans.recordInteraction('2400000000000001', first, true)).isNew).to.equal(true);
    const later = new Date(first.getTime() + 5000);
    expect((await fans.recordInteraction('2400000000000001', later, true)).isNew).to.equal(false);
    // An old event processed late never moves the window back.
    await fans.recordInteraction('2400000000000001', new Date(first.getTime() - 1000), true);
    const fan = await FanModel.collection.findOne({ psid: '2400000000000001' });
    expect((fan?.lastInteractionAt as Date).getTime()).to.equal(later.getTime());
  });
});
