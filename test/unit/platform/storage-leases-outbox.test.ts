import { expect } from 'chai';
import { releaseLease, renewLease, tryAcquireLease } from '../../../src/db/leases.js';
import { OutboxMessageModel } from '../../../src/db/models/outbox-message.js';
import { ETagConflictError, MongoStorage } from '../../../src/messenger/botkit/mongo-storage.js';
import { enqueueMessages, type OutgoingItem } from '../../../src/messenger/outbox/enqueue.js';
import { useTestDatabase } from './mongo.js';

describe('MongoDB-backed platform pieces', () => {
  const db = useTestDatabase();
  beforeEach(() => db.clear());

  describe('MongoStorage (Botkit state)', () => {
    const storage = new MongoStorage();

    it('reads, writes and deletes; missing keys are absent', async () => {
      expect(await storage.read([])).to.deep.equal({});
      expect(await storage.read(['nope'])).to.deep.equal({});
      await storage.write({ a: { n: 1 }, b: { n: 2 } });
      const items = await storage.read(['a', 'b', 'c']);
      expect(Object.keys(items).sort()).to.deep.equal(['a', 'b']);
      expect(items.a.n).to.equal(1);
      expect(items.a.eTag).to.be.a('string');
      await storage.delete(['a', 'c']);
      expect(Object.keys(await storage.read(['a', 'b']))).to.deep.equal(['b']);
      await storage.delete([]);
    });

    it('keeps {} , nested objects, arrays, dotted and $ keys exactly', async () => {
      const state = {
        empty: {},
        nested: { deep: { deeper: { list: [1, { x: {} }, []] } } },
        'dotted.key': { $dollar: true },
        nothing: null,
      };
      await storage.write({ 'facebook/conversations/1-2/': state });
      const { eTag, ...rest } = (await storage.read(['facebook/conversations/1-2/']))[
        'facebook/conversations/1-2/'
      ];
      expect(eTag).to.be.a('string');
      expect(rest).to.deep.equal(state);
    });

    it('refuses a stale eTag and lets "*" (or no eTag) overwrite', async () => {
      await storage.write({ k: { v: 1 } });
      const first = (await storage.read(['k'])).k;
      await storage.write({ k: { ...first, v: 2 } });
      const second = (await storage.read(['k'])).k;
      expect(second.eTag).to.not.equal(first.eTag);
      let error: unknown;
      try {
        await storage.write({ k: { ...first, v: 3 } });
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(ETagConflictError);
      expect((await storage.read(['k'])).k.v).to.equal(2);
      await storage.write({ k: { v: 4, eTag: '*' } });
      expect((await storage.read(['k'])).k.v).to.equal(4);
      await storage.write({ k: { v: 5 } });
      expect((await storage.read(['k'])).k.v).to.equal(5);
    });
  });

  describe('leases', () => {
    const t0 = new Date('2026-05-01T10:00:00Z');
    const at = (ms: number) => new Date(t0.getTime() + ms);

    it('one holder at a time; the holder may re-acquire', async () => {
      expect(await tryAcquireLease('job:x', 'A', 1000, t0)).to.equal(true);
      expect(await tryAcquireLease('job:x', 'B', 1000, at(10))).to.equal(false);
      expect(await tryAcquireLease('job:x', 'A', 1000, at(20))).to.equal(true);
      expect(await tryAcquireLease('job:y', 'B', 1000, at(20))).to.equal(true);
    });

    it('concurrent acquirers: exactly one wins', async () => {
      const holders = Array.from({ length: 20 }, (_, i) => `H${i}`);
      const won = await Promise.all(holders.map((h) => tryAcquireLease('race', h, 5000, t0)));
      expect(won.filter(Boolean)).to.have.length(1);
    });

    it('an expired lease is taken over; the old holder can then neither renew nor release it', async () => {
      await tryAcquireLease('q', 'A', 1000, t0);
      expect(await renewLease('q', 'A', 1000, at(900))).to.equal(true); // now until t0+1900
      expect(await tryAcquireLease('q', 'B', 1000, at(1500))).to.equal(false);
      expect(await tryAcquireLease('q', 'B', 1000, at(1900))).to.equal(true);
      expect(await renewLease('q', 'A', 1000, at(2000))).to.equal(false);
      await releaseLease('q', 'A');
      expect(await tryAcquireLease('q', 'C', 1000, at(2100))).to.equal(false);
      expect(await renewLease('q', 'B', 1000, at(2100))).to.equal(true);
      await releaseLease('q', 'B');
      expect(await tryAcquireLease('q', 'C', 1000, at(2200))).to.equal(true);
      expect(await renewLease('missing', 'A', 1000, t0)).to.equal(false);
    });
  });

  describe('enqueueMessages', () => {
    const now = new Date('2026-05-01T10:00:00Z');
    const item = (key: string, text = key): OutgoingItem => ({
      pageId: '1',
      idempotencyKey: key,
      kind: 'message',
      recipient: { psid: '2500000000000001' },
      purpose: 'reply',
      body: { text },
    });
    const stored = async () =>
      (await OutboxMessageModel.collection.find({}).sort({ seq: 1 }).toArray()).map((d) =>
        String(d.idempotencyKey),
      );

    it('the same key twice is one record (the first one wins)', async () => {
      expect(await enqueueMessages([item('k1', 'first')], now)).to.deep.equal({ created: 1, duplicates: 0 });
      expect(await enqueueMessages([item('k1', 'second')], now)).to.deep.equal({ created: 0, duplicates: 1 });
      const docs = await OutboxMessageModel.collection.find({}).toArray();
      expect(docs).to.have.length(1);
      expect(JSON.parse(String(docs[0]!.body))).to.deep.equal({ text: 'first' });
      expect(docs[0]!.queueKey).to.equal('fan:2500000000000001');
      expect(docs[0]!.state).to.equal('pending');
    });

    it('a retried batch that overlaps adds only the new ones, in order', async () => {
      expect(await enqueueMessages([item('a'), item('b')], now)).to.deep.equal({ created: 2, duplicates: 0 });
      expect(await enqueueMessages([item('b'), item('c'), item('a'), item('d')], now)).to.deep.equal({
        created: 2,
        duplicates: 2,
      });
      expect(await stored()).to.deep.equal(['a', 'b', 'c', 'd']);
      expect(await enqueueMessages([], now)).to.deep.equal({ created: 0, duplicates: 0 });
    });

    it('keeps order across many items written at the same instant', async () => {
      const keys = Array.from({ length: 50 }, (_, i) => `m${String(i).padStart(2, '0')}`);
      await enqueueMessages(
        keys.slice(0, 25).map((k) => item(k)),
        now,
      );
      await enqueueMessages(
        keys.slice(20).map((k) => item(k)),
        now,
      );
      expect(await stored()).to.deep.equal(keys);
    });

    it('refuses an item with no recipient', async () => {
      let error: unknown;
      try {
        await enqueueMessages([{ ...item('x'), recipient: {} }], now);
      } catch (e) {
        error = e;
      }
      expect(String(error)).to.match(/psid or a comment id/);
    });
  });
});
