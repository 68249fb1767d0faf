import { expect } from 'chai';
import { InboxEventModel } from '../../../src/db/models/inbox-event.js';
import { LeaseModel } from '../../../src/db/models/lease.js';
import { InboxProcessor, type InboxHandler, type InboxItem } from '../../../src/messenger/inbox/processor.js';
import { acceptEvents } from '../../../src/messenger/inbox/store.js';
import type { SplitEvent } from '../../../src/messenger/webhook/events.js';
import { silentLogger } from '../../../src/log.js';
import { waitFor } from '../../support/app.js';
import { useTestDatabase } from './mongo.js';

const PAGE = '100000000000055';
const base = new Date('2026-05-01T10:00:00Z').getTime();

const event = (fan: string, n: number, timeOffsetMs = n): SplitEvent => ({
  pageId: PAGE,
  kind: 'message',
  dedupeKey: `mid:${fan}:${n}`,
  queueKey: `fan:${fan}`,
  eventTime: new Date(base + timeOffsetMs),
  payload: { n, fan },
});

describe('InboxProcessor (MongoDB)', function () {
  this.timeout(30_000);
  const db = useTestDatabase();
  const running: InboxProcessor[] = [];
  beforeEach(() => db.clear());
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
  });

  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  beforeEach(() => {
    offsetMs = 0;
  });

  const start = (handle: InboxHandler, extra: { maxAttempts?: number; concurrency?: number } = {}) => {
    const p = new InboxProcessor({
      handle,
      log: silentLogger,
      now,
      maxAttempts: extra.maxAttempts ?? 5,
      pollMs: 10,
      ...extra,
    });
    running.push(p);
    p.start();
    return p;
  };
  const remaining = () => InboxEventModel.countDocuments({ state: 'pending' });

  it("processes one fan's events in event-time order even when they were stored out of order", async () => {
    // Stored 3, 1, 4, 0, 2 (separate webhook calls); event times say 0..4.
    for (const n of [3, 1, 4, 0, 2]) await acceptEvents([event('F1', n)], new Date());
    await acceptEvents([event('F2', 1), event('F2', 0)], new Date());
    const seen: string[] = [];
    start(async (item) => {
      seen.push(item.dedupeKey);
      return 'done';
    });
    await waitFor(async () => (await remaining()) === 0);
    expect(seen.filter((k) => k.includes('F1'))).to.deep.equal([0, 1, 2, 3, 4].map((n) => `mid:F1:${n}`));
    expect(seen.filter((k) => k.includes('F2'))).to.deep.equal(['mid:F2:0', 'mid:F2:1']);
    const done = await InboxEventModel.find({}).lean();
    expect(done.every((d) => d.state === 'done' && d.attempts === 1 && d.expiresAt instanceof Date)).to.equal(
      true,
    );
  });

  it('retries a failing event with backoff, holds the fan’s later events behind it, then parks it with its error', async () => {
    await acceptEvents([event('F3', 0), event('F3', 1)], new Date());
    const attempts: { key: string; at: number }[] = [];
    const p = start(
      async (item: InboxItem) => {
        attempts.push({ key: item.dedupeKey, at: now().getTime() });
        if (item.dedupeKey === 'mid:F3:0') throw new TypeError(`boom ${item.attempts}`);
        return 'done';
      },
      { maxAttempts: 3 },
    );
    for (let attempt = 1; attempt <= 3; attempt++) {
      await waitFor(() => attempts.length >= attempt);
      await waitFor(async () => {
        const doc = await InboxEventModel.findOne({ dedupeKey: 'mid:F3:0' }).lean();
        return doc?.attempts === attempt && doc;
      });
      const doc = await InboxEventModel.findOne({ dedupeKey: 'mid:F3:0' }).lean();
      expect(doc?.lastError).to.equal(`TypeError: boom ${attempt}`);
      if (attempt < 3) {
        expect(doc?.state).to.equal('pending');
        // Full-jitter backoff: between half and all of 1 s · 2^(attempt-1).
        const delay = doc!.nextAttemptAt.getTime() - attempts[attempt - 1]!.at;
        expect(delay).to.be.within(500 * 2 ** (attempt - 1) - 50, 1000 * 2 ** (attempt - 1) + 50);
        // Nothing happens before the retry is due, and the later event of the same fan waits.
        await new Promise((r) => setTimeout(r, 100));
        expect(attempts).to.have.length(attempt);
        offsetMs += 10 * 60_000;
        p.wake();
      }
    }
    await waitFor(async () => (await remaining()) === 0);
    const parked = await InboxEventModel.findOne({ dedupeKey: 'mid:F3:0' }).lean();
    expect(parked?.state).to.equal('parked');
    expect(parked?.attempts).to.equal(3);
    expect(parked?.lastError).to.equal('TypeError: boom 3');
    expect(attempts.map((a) => a.key)).to.deep.equal(['mid:F3:0', 'mid:F3:0', 'mid:F3:0', 'mid:F3:1']);
    expect((await InboxEventModel.findOne({ dedupeKey: 'mid:F3:1' }).lean())?.state).to.equal('done');
  });

  it('counts a holder that died holding a queue as an attempt on its head event, and parks it after enough deaths', async () => {
    await acceptEvents([event('F4', 0), event('F4', 1)], new Date());
    // Two deaths already counted, and a third holder died leaving the queue's lease unreleased.
    await InboxEventModel.collection.updateOne({ dedupeKey: 'mid:F4:0' }, { $set: { attempts: 2 } });
    await LeaseModel.collection.insertOne({
      _id: 'inbox:fan:F4' as never,
      holder: 'inbox-dead',
      until: new Date(now().getTime() - 1),
    });
    const seen: InboxItem[] = [];
    start(
      async (item) => {
        seen.push(item);
        return 'done';
      },
      { maxAttempts: 3 },
    );
    await waitFor(async () => (await remaining()) === 0);
    // Two earlier deaths plus the one found now: the event is parked untried, the next one runs.
    const parked = await InboxEventModel.findOne({ dedupeKey: 'mid:F4:0' }).lean();
    expect(parked?.state).to.equal('parked');
    expect(parked?.attempts).to.equal(3);
    expect(seen.map((i) => i.dedupeKey)).to.deep.equal(['mid:F4:1']);
    expect(seen[0]!.attempts).to.equal(1);
    expect(await LeaseModel.countDocuments({})).to.equal(0);
  });

  it('a released lease is no death: the next drain counts nothing', async () => {
    await acceptEvents([event('F5', 0)], new Date());
    const seen: InboxItem[] = [];
    start(async (item) => {
      seen.push(item);
      return 'done';
    });
    await waitFor(async () => (await remaining()) === 0);
    expect(seen.map((i) => i.attempts)).to.deep.equal([1]);
    expect((await InboxEventModel.findOne({ dedupeKey: 'mid:F5:0' }).lean())?.attempts).to.equal(1);
  });

  it('two processors on the same database never process the same event twice, and keep each fan in order', async () => {
    const fans = Array.from({ length: 12 }, (_, i) => `P${i}`);
    const events = fans.flatMap((f) => Array.from({ length: 10 }, (_, n) => event(f, n)));
    // Shuffled arrival, several webhook calls.
    const shuffled = [...events].sort(() => Math.random() - 0.5);
    for (let i = 0; i < shuffled.length; i += 15) await acceptEvents(shuffled.slice(i, i + 15), new Date());
    const calls: { key: string; by: string }[] = [];
    let inHandler = new Map<string, number>();
    let overlap = 0;
    const handler =
      (by: string): InboxHandler =>
      async (item) => {
        const active = (inHandler.get(item.queueKey) ?? 0) + 1;
        inHandler.set(item.queueKey, active);
        if (active > 1) overlap += 1;
        calls.push({ key: item.dedupeKey, by });
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        inHandler.set(item.queueKey, (inHandler.get(item.queueKey) ?? 1) - 1);
        return 'done';
      };
    start(handler('A'), { concurrency: 4 });
    start(handler('B'), { concurrency: 4 });
    await waitFor(async () => (await remaining()) === 0, 20_000);
    inHandler = new Map();
    const keys = calls.map((c) => c.key);
    expect(keys).to.have.length(events.length);
    expect(new Set(keys).size).to.equal(events.length);
    expect(overlap).to.equal(0);
    for (const f of fans) {
      const order = keys.filter((k) => k.startsWith(`mid:${f}:`)).map((k) => Number(k.split(':')[2]));
      expect(order).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    // Both did some of the work (not a requirement of correctness, but shows they really competed).
    expect(new Set(calls.map((c) => c.by)).size).to.equal(2);
  });
});
