import { expect } from 'chai';
import mongoose, { Schema, type Connection } from 'mongoose';
import { startTestMongo, type TestMongo } from './helpers.js';

describe('db conformance: mongoose CRUD', () => {
  let mongo: TestMongo;
  let conn: Connection;

  const itemSchema = new Schema({
    sku: { type: String, required: true, unique: true },
    title: String,
    priceCents: { type: Number, default: 0 },
    stock: { type: Number, default: 0 },
    tags: [String],
    ownerId: Schema.Types.ObjectId,
    createdAt: { type: Date, default: () => new Date() },
    attrs: { color: String, size: Number },
  });

  before(async () => {
    mongo = await startTestMongo();
    conn = await mongoose.createConnection(mongo.uri).asPromise();
  });
  after(async () => {
    await conn?.close();
    await mongo?.stop();
  });

  it('creates, reads, updates and deletes documents', async () => {
    const Item = conn.model('CrudItem', itemSchema);
    await Item.init();
    const a = await Item.create({ sku: 'A', title: 'Apple', priceCents: 120, tags: ['fruit'] });
    expect(a._id).to.be.instanceOf(mongoose.Types.ObjectId);

    const byId = await Item.findById(a._id).lean();
    expect(byId?.sku).to.equal('A');
    expect(byId?._id.equals(a._id)).to.equal(true);
    expect(byId?.createdAt).to.be.instanceOf(Date);

    const bySku = await Item.findOne({ sku: 'A' });
    expect(bySku?.title).to.equal('Apple');

    bySku!.title = 'Green apple';
    await bySku!.save();
    expect((await Item.findById(a._id).lean())?.title).to.equal('Green apple');

    const res = await Item.updateOne({ sku: 'A' }, { $inc: { stock: 5 } });
    expect(res.matchedCount).to.equal(1);
    expect(res.modifiedCount).to.equal(1);
    expect((await Item.findById(a._id).lean())?.stock).to.equal(5);

    const del = await Item.deleteOne({ sku: 'A' });
    expect(del.deletedCount).to.equal(1);
    expect(await Item.findById(a._id)).to.equal(null);
  });

  it('queries by ObjectId fields, Date ranges, $in, nested fields and regex', async () => {
    const Item = conn.model('QueryItem', itemSchema);
    await Item.init();
    const owner = new mongoose.Types.ObjectId();
    const other = new mongoose.Types.ObjectId();
    const t0 = new Date('2024-01-01T00:00:00Z');
    await Item.insertMany([
      {
        sku: 'q1',
        ownerId: owner,
        createdAt: new Date(t0.getTime() + 1000),
        attrs: { color: 'red', size: 1 },
      },
      {
        sku: 'q2',
        ownerId: owner,
        createdAt: new Date(t0.getTime() + 2000),
        attrs: { color: 'blue', size: 2 },
      },
      {
        sku: 'q3',
        ownerId: other,
        createdAt: new Date(t0.getTime() + 3000),
        attrs: { color: 'red', size: 3 },
      },
    ]);
    expect(await Item.countDocuments({ ownerId: owner })).to.equal(2);
    expect(await Item.countDocuments({ ownerId: new mongoose.Types.ObjectId(owner.toHexString()) })).to.equal(
      2,
    );
    expect(await Item.countDocuments({ ownerId: { $ne: owner } })).to.equal(1);
    expect(await Item.countDocuments({ createdAt: { $gt: new Date(t0.getTime() + 1500) } })).to.equal(2);
    expect(
      await Item.countDocuments({ createdAt: { $gte: t0, $lt: new Date(t0.getTime() + 2500) } }),
    ).to.equal(2);
    expect(await Item.countDocuments({ sku: { $in: ['q1', 'q3', 'zz'] } })).to.equal(2);
    expect(await Item.countDocuments({ 'attrs.color': 'red' })).to.equal(2);
    expect(await Item.countDocuments({ sku: /^q[12]$/ })).to.equal(2);
    expect(await Item.countDocuments({ $or: [{ sku: 'q1' }, { 'attrs.size': { $gte: 3 } }] })).to.equal(2);
    const found = await Item.find({ _id: { $in: (await Item.find({ ownerId: owner })).map((d) => d._id) } });
    expect(found).to.have.length(2);
  });

  it('sorts, skips, limits and projects', async () => {
    const Item = conn.model('SortItem', itemSchema);
    await Item.init();
    await Item.insertMany(Array.from({ length: 20 }, (_, i) => ({ sku: `s${i}`, priceCents: (i * 7) % 20 })));
    const top = await Item.find({}).sort({ priceCents: -1 }).limit(3).lean();
    expect(top.map((d) => d.priceCents)).to.deep.equal([19, 18, 17]);
    const page = await Item.find({}).sort({ priceCents: 1 }).skip(5).limit(2).lean();
    expect(page.map((d) => d.priceCents)).to.deep.equal([5, 6]);
    const projected = await Item.findOne({ sku: 's3' }).select({ sku: 1 }).lean();
    expect(Object.keys(projected!).sort()).to.deep.equal(['_id', 'sku']);
    const excluded = await Item.findOne({ sku: 's3' }).select({ sku: 0, _id: 0 }).lean();
    expect(excluded).to.not.have.property('sku');
    expect(excluded).to.not.have.property('_id');
    expect(excluded).to.have.property('priceCents', 1);
    const multi = await Item.find({ priceCents: { $lt: 4 } })
      .sort({ priceCents: 1, sku: -1 })
      .lean();
    expect(multi.map((d) => d.priceCents)).to.deep.equal([0, 1, 2, 3]);
  });

  it('reads cursors across several batches with batchSize', async () => {
    const Item = conn.model('BatchItem', itemSchema);
    await Item.init();
    await Item.insertMany(Array.from({ length: 250 }, (_, i) => ({ sku: `b${i}`, stock: i })));
    const seen: number[] = [];
    for await (const doc of Item.find({}).sort({ stock: 1 }).batchSize(7).lean().cursor())
      seen.push(doc.stock);
    expect(seen).to.have.length(250);
    expect(seen[0]).to.equal(0);
    expect(seen[249]).to.equal(249);
    const all = await Item.find({ stock: { $gte: 100 } }).lean();
    expect(all).to.have.length(150);
    let n = 0;
    for await (const _doc of Item.aggregate([{ $match: { stock: { $lt: 50 } } }]).cursor({ batchSize: 3 }))
      n++;
    expect(n).to.equal(50);
  });

  it('answers getMore on an unknown or killed cursor with CursorNotFound (43)', async () => {
    const coll = conn.db!.collection('cursor_things');
    await coll.insertMany(Array.from({ length: 10 }, (_, i) => ({ i })));
    const reply = await conn.db!.command({ find: 'cursor_things', filter: {}, batchSize: 2 });
    const cursor = reply.cursor as { id: mongoose.mongo.Long; firstBatch: unknown[] };
    expect(cursor.firstBatch).to.have.length(2);
    expect(cursor.id).to.be.instanceOf(mongoose.mongo.Long);
    const more = await conn.db!.command({ getMore: cursor.id, collection: 'cursor_things', batchSize: 3 });
    expect((more.cursor as { nextBatch: unknown[] }).nextBatch).to.have.length(3);
    const killed = await conn.db!.command({ killCursors: 'cursor_things', cursors: [cursor.id] });
    expect(killed.cursorsKilled).to.have.length(1);
    const err = (await conn
      .db!.command({ getMore: cursor.id, collection: 'cursor_things' })
      .catch((e: unknown) => e)) as { code: number };
    expect(err.code).to.equal(43);
  });

  it('supports raw driver operations on the same database', async () => {
    const coll = conn.db!.collection('raw_things');
    await coll.insertMany([
      { _id: 1 as never, v: 'a' },
      { _id: 2 as never, v: 'b' },
    ]);
    expect(await coll.countDocuments()).to.equal(2);
    expect(await coll.estimatedDocumentCount()).to.equal(2);
    await coll.updateMany({}, { $set: { w: true } });
    expect(await coll.countDocuments({ w: true })).to.equal(2);
    const replaced = await coll.replaceOne({ _id: 1 as never }, { v: 'z' });
    expect(replaced.modifiedCount).to.equal(1);
    expect(await coll.findOne({ _id: 1 as never })).to.deep.equal({ _id: 1, v: 'z' });
    const names = (await conn.db!.listCollections().toArray()).map((c) => c.name);
    expect(names).to.include('raw_things');
    await coll.drop();
    expect((await conn.db!.listCollections().toArray()).map((c) => c.name)).to.not.include('raw_things');
  });
});
