/**
 * Conformance of `_id` ranges and `_id` sorts through the real driver and mongoose: the keyset
 * pagination the broadcast queue uses (`_id > last`, sorted, limited), getMore batches, mixed `_id`
 * types in BSON order, descending walks, writes between batches, other filter fields and
 * projections. Expected results are computed here, not by the server.
 */
import { expect } from 'chai';
import { ObjectId, type Collection, type Document } from 'mongodb';
import mongoose, { Schema, type Connection } from 'mongoose';
import { startTestMongo, type TestMongo } from './helpers.js';

const hex = (d: Document) => (d._id as ObjectId).toHexString();
const byHex = (a: Document, b: Document) => (hex(a) < hex(b) ? -1 : hex(a) > hex(b) ? 1 : 0);

describe('db conformance: _id ranges and _id sorts', () => {
  let mongo: TestMongo;
  let conn: Connection;
  let fans: Collection;
  /** Every fan as inserted, sorted by _id here. */
  let all: Document[];

  before(async function () {
    this.timeout(60_000);
    mongo = await startTestMongo();
    conn = await mongoose.createConnection(mongo.uri).asPromise();
    fans = conn.db!.collection('range_fans');
    await fans.createIndex({ pageId: 1, psid: 1 }, { unique: true });
    // _ids out of insertion order (time-shuffled), so _id order is not natural order
    const docs: Document[] = [];
    for (let i = 0; i < 3000; i++) {
      const t = 1_700_000_000 + ((i * 7919) % 3000);
      const _id = ObjectId.createFromTime(t);
      docs.push({
        _id,
        pageId: i % 10 === 9 ? 'other' : 'p1',
        psid: `s${i}`,
        locale: i % 3 === 0 ? 'en' : 'it',
        optOut: i % 7 === 0,
      });
    }
    await fans.insertMany(docs);
    all = [...docs].sort(byHex);
  });
  after(async () => {
    await conn?.close();
    await mongo?.stop();
  });

  it('pages through a segment in batches of 500 with _id > last, sorted, limited', async () => {
    const segment = { pageId: 'p1', optOut: false };
    const want = all.filter((d) => d.pageId === 'p1' && d.optOut === false).map(hex);
    const got: string[] = [];
    let last: ObjectId | null = null;
    let batches = 0;
    for (;;) {
      const filter: Document = last ? { $and: [segment, { _id: { $gt: last } }] } : segment;
      const batch = await fans
        .find(filter, { sort: { _id: 1 }, limit: 500, projection: { psid: 1, locale: 1 } })
        .toArray();
      if (batch.length === 0) break;
      batches++;
      for (const d of batch) expect(Object.keys(d).sort()).to.deep.equal(['_id', 'locale', 'psid']);
      got.push(...batch.map(hex));
      last = batch[batch.length - 1]!._id as ObjectId;
    }
    expect(got).to.deep.equal(want);
    expect(batches).to.equal(Math.ceil(want.length / 500));
  });

  it('serves the same range through getMore batches and through aggregate and count', async () => {
    const from = all[700]!._id as ObjectId;
    const to = all[2400]!._id as ObjectId;
    const want = all.slice(701, 2401).filter((d) => d.locale === 'en');
    const cursor = fans.find(
      { _id: { $gt: from, $lte: to }, locale: 'en' },
      { sort: { _id: 1 }, limit: 450, batchSize: 100 },
    );
    const got: Document[] = [];
    for await (const d of cursor) got.push(d);
    expect(got.map(hex)).to.deep.equal(want.slice(0, 450).map(hex));
    const agg = await fans
      .aggregate(
        [
          { $match: { _id: { $gt: from, $lte: to }, locale: 'en' } },
          { $sort: { _id: -1 } },
          { $skip: 3 },
          { $limit: 40 },
          { $project: { _id: 1 } },
        ],
        { batchSize: 7 },
      )
      .toArray();
    expect(agg.map(hex)).to.deep.equal([...want].reverse().slice(3, 43).map(hex));
    expect(await fans.countDocuments({ _id: { $gt: from, $lte: to }, locale: 'en' })).to.equal(want.length);
  });

  it('walks downwards: _id < last sorted descending, with an unbounded first page', async () => {
    const got: string[] = [];
    let last: ObjectId | null = null;
    for (;;) {
      const filter: Document = last ? { pageId: 'other', _id: { $lt: last } } : { pageId: 'other' };
      const batch = await fans.find(filter, { sort: { _id: -1 }, limit: 70 }).toArray();
      if (batch.length === 0) break;
      got.push(...batch.map(hex));
      last = batch[batch.length - 1]!._id as ObjectId;
    }
    expect(got).to.deep.equal(
      all
        .filter((d) => d.pageId === 'other')
        .map(hex)
        .reverse(),
    );
    const first = await fans.find({}, { sort: { _id: 1 }, limit: 3, skip: 2 }).toArray();
    expect(first.map(hex)).to.deep.equal(all.slice(2, 5).map(hex));
    const lastTwo = await fans.find({}, { sort: { _id: -1 }, limit: 2 }).toArray();
    expect(lastTwo.map(hex)).to.deep.equal([hex(all[all.length - 1]!), hex(all[all.length - 2]!)]);
  });

  it('sees inserts and deletes made between batches', async () => {
    const coll = conn.db!.collection('range_moving');
    const ids = Array.from({ length: 100 }, (_, i) => ObjectId.createFromTime(1_800_000_000 + i * 10));
    await coll.insertMany(ids.map((_id, i) => ({ _id, n: i })));
    const first = await coll.find({ _id: { $gt: ids[9]! } }, { sort: { _id: 1 }, limit: 5 }).toArray();
    expect(first.map((d) => d.n)).to.deep.equal([10, 11, 12, 13, 14]);
    // ahead of the position: one removed, one inserted between 15 and 16, one behind it (not seen)
    await coll.deleteOne({ _id: ids[16]! });
    await coll.insertOne({ _id: ObjectId.createFromTime(1_800_000_000 + 155), n: 15.5 });
    await coll.insertOne({ _id: ObjectId.createFromTime(1_800_000_000 + 5), n: 0.5 });
    const next = await coll
      .find({ _id: { $gt: first[4]!._id as ObjectId } }, { sort: { _id: 1 }, limit: 4 })
      .toArray();
    expect(next.map((d) => d.n)).to.deep.equal([15, 15.5, 17, 18]);
    await coll.deleteMany({ _id: { $gte: ids[90]! } });
    const tail = await coll.find({ _id: { $gt: ids[85]! } }, { sort: { _id: 1 } }).toArray();
    expect(tail.map((d) => d.n)).to.deep.equal([86, 87, 88, 89]);
    expect(await coll.countDocuments({ _id: { $lt: ids[3]! } })).to.equal(4);
  });

  it('orders mixed _id types as BSON does and bounds a range to the bound’s type', async () => {
    const coll = conn.db!.collection<Document>('range_mixed');
    const oidA = new ObjectId('0a0000000000000000000000');
    const oidB = new ObjectId('ff0000000000000000000000');
    // (no null: the driver replaces a null _id with a new ObjectId)
    const ordered: unknown[] = [
      -5.5,
      3,
      10,
      'a',
      'b',
      'zz',
      { k: 1 },
      oidA,
      oidB,
      false,
      true,
      new Date(1000),
      new Date(2000),
    ];
    const shuffled = [7, 2, 12, 0, 9, 4, 1, 11, 5, 8, 3, 10, 6].map((i) => ordered[i]);
    for (const _id of shuffled) await coll.insertOne({ _id: _id as never, tag: 'm' });
    const ids = async (filter: Document, sort: 1 | -1 = 1, limit = 0) =>
      (await coll.find(filter, { sort: { _id: sort }, limit }).toArray()).map((d) => d._id as unknown);
    expect(await ids({})).to.deep.equal(ordered);
    expect(await ids({ tag: 'm' }, -1)).to.deep.equal([...ordered].reverse());
    expect(await ids({ _id: { $gt: 3 } })).to.deep.equal([10]);
    expect(await ids({ _id: { $gte: -10 } }, -1)).to.deep.equal([10, 3, -5.5]);
    expect(await ids({ _id: { $lt: 'b' } })).to.deep.equal(['a']);
    expect(await ids({ _id: { $gte: 'b' } }, 1, 1)).to.deep.equal(['b']);
    expect(await ids({ _id: { $gt: oidA } })).to.deep.equal([oidB]);
    expect(await ids({ _id: { $gte: false } })).to.deep.equal([false, true]);
    expect(await ids({ _id: { $lte: new Date(1500) } })).to.deep.equal([new Date(1000)]);
    expect(await ids({ _id: { $gt: 3, $lt: 'zz' } })).to.deep.equal([]);
    expect(await ids({ $and: [{ _id: { $gt: 'a' } }, { _id: { $lte: 'zz' } }] }, -1)).to.deep.equal([
      'zz',
      'b',
    ]);
  });

  it('serves mongoose queries with a range, a descending sort, a limit and a projection', async () => {
    const Fan = conn.model(
      'RangeFan',
      new Schema({ pageId: String, psid: String, locale: String, optOut: Boolean }),
      'range_fans',
    );
    const pivot = all[1500]!._id as ObjectId;
    const got = await Fan.find({ _id: { $lt: pivot }, locale: 'it' })
      .sort({ _id: -1 })
      .limit(25)
      .select({ psid: 1 })
      .lean();
    const want = all
      .slice(0, 1500)
      .filter((d) => d.locale === 'it')
      .reverse()
      .slice(0, 25);
    expect(got.map((d) => d.psid)).to.deep.equal(want.map((d) => d.psid));
    expect(got.every((d) => d.locale === undefined)).to.equal(true);
  });
});
