import { expect } from 'chai';
import mongoose, { Schema, type Connection } from 'mongoose';
import { startTestMongo, type TestMongo } from './helpers.js';

describe('db conformance: update and aggregation shapes', () => {
  let mongo: TestMongo;
  let conn: Connection;

  before(async () => {
    mongo = await startTestMongo();
    conn = await mongoose.createConnection(mongo.uri).asPromise();
  });
  after(async () => {
    await conn?.close();
    await mongo?.stop();
  });

  const cartSchema = new Schema({
    userId: { type: String, required: true, unique: true },
    items: [{ sku: String, qty: Number, _id: false }],
    tags: [String],
    visits: { type: Number, default: 0 },
    status: { type: String, default: 'new' },
    createdBy: String,
  });

  it('applies $inc, $push, $addToSet, $pull, $unset and $[x] with arrayFilters', async () => {
    const Cart = conn.model('UpdCart', cartSchema);
    await Cart.init();
    await Cart.create({
      userId: 'u1',
      items: [
        { sku: 'a', qty: 1 },
        { sku: 'b', qty: 5 },
      ],
      tags: ['x'],
    });
    await Cart.updateOne({ userId: 'u1' }, { $inc: { visits: 2 }, $push: { items: { sku: 'c', qty: 9 } } });
    await Cart.updateOne({ userId: 'u1' }, { $addToSet: { tags: { $each: ['x', 'y'] } } });
    await Cart.updateOne({ userId: 'u1' }, { $pull: { items: { sku: 'a' } } });
    await Cart.updateOne(
      { userId: 'u1' },
      { $inc: { 'items.$[big].qty': 100 } },
      { arrayFilters: [{ 'big.qty': { $gte: 5 } }] },
    );
    await Cart.updateOne({ userId: 'u1', 'items.sku': 'b' }, { $set: { 'items.$.sku': 'B' } });
    await Cart.updateOne({ userId: 'u1' }, { $unset: { status: '' } });
    const cart = await Cart.findOne({ userId: 'u1' }).lean();
    expect(cart?.visits).to.equal(2);
    expect(cart?.tags).to.deep.equal(['x', 'y']);
    expect(cart?.items).to.deep.equal([
      { sku: 'B', qty: 105 },
      { sku: 'c', qty: 109 },
    ]);
    expect(cart).to.not.have.property('status');
  });

  it('upserts with $setOnInsert and seeds equality fields from the filter', async () => {
    const Cart = conn.model('UpsCart', cartSchema);
    await Cart.init();
    const raw = Cart.collection;
    const first = await raw.updateOne(
      { userId: 'u9', status: 'open' },
      { $inc: { visits: 1 }, $setOnInsert: { createdBy: 'upsert' } },
      { upsert: true },
    );
    expect(first.upsertedCount).to.equal(1);
    expect(first.upsertedId).to.be.instanceOf(mongoose.Types.ObjectId);
    const second = await raw.updateOne(
      { userId: 'u9', status: 'open' },
      { $inc: { visits: 1 }, $setOnInsert: { createdBy: 'second' } },
      { upsert: true },
    );
    expect(second.upsertedCount).to.equal(0);
    expect(second.matchedCount).to.equal(1);
    const doc = await raw.findOne({ userId: 'u9' });
    expect(doc).to.include({ userId: 'u9', status: 'open', visits: 2, createdBy: 'upsert' });

    // mongoose applies schema defaults on upsert through $setOnInsert
    const viaMongoose = await Cart.findOneAndUpdate(
      { userId: 'u10' },
      { $inc: { visits: 3 } },
      { upsert: true, returnDocument: 'after' },
    ).lean();
    expect(viaMongoose).to.include({ userId: 'u10', visits: 3, status: 'new' });
  });

  it('findOneAndUpdate returns the old or the new document, and respects sort and projection', async () => {
    const Cart = conn.model('FamCart', cartSchema);
    await Cart.init();
    await Cart.create([
      { userId: 'a', visits: 1 },
      { userId: 'b', visits: 2 },
    ]);
    const before = await Cart.findOneAndUpdate({ userId: 'a' }, { $inc: { visits: 10 } }).lean();
    expect(before?.visits).to.equal(1);
    const after = await Cart.findOneAndUpdate(
      { userId: 'a' },
      { $inc: { visits: 10 } },
      { returnDocument: 'after' },
    ).lean();
    expect(after?.visits).to.equal(21);
    const top = await Cart.findOneAndUpdate(
      {},
      { $set: { status: 'top' } },
      { sort: { visits: -1 }, returnDocument: 'after', projection: { status: 1, userId: 1 } },
    ).lean();
    expect(top).to.deep.include({ userId: 'a', status: 'top' });
    expect(top).to.not.have.property('visits');
    const none = await Cart.findOneAndUpdate({ userId: 'zzz' }, { $inc: { visits: 1 } }).lean();
    expect(none).to.equal(null);
    const removed = await Cart.findOneAndDelete({ userId: 'b' }).lean();
    expect(removed?.userId).to.equal('b');
    expect(await Cart.countDocuments()).to.equal(1);
  });

  it('runs bulkWrite, countDocuments, estimatedDocumentCount and distinct', async () => {
    const Cart = conn.model('BulkCart', cartSchema);
    await Cart.init();
    const res = await Cart.bulkWrite([
      { insertOne: { document: { userId: 'x1', tags: ['a', 'b'] } } },
      { insertOne: { document: { userId: 'x2', tags: ['b', 'c'] } } },
      { updateOne: { filter: { userId: 'x1' }, update: { $set: { status: 'paid' } } } },
      { updateMany: { filter: {}, update: { $inc: { visits: 1 } } } },
      { updateOne: { filter: { userId: 'x3' }, update: { $set: { status: 'new' } }, upsert: true } },
      { deleteOne: { filter: { userId: 'x2' } } },
      {
        replaceOne: {
          filter: { userId: 'x1' },
          replacement: { userId: 'x1', tags: ['z'], visits: 7 } as never,
        },
      },
    ]);
    expect(res.insertedCount).to.equal(2);
    expect(res.upsertedCount).to.equal(1);
    expect(res.deletedCount).to.equal(1);
    expect(res.modifiedCount).to.equal(4);
    expect(await Cart.countDocuments()).to.equal(2);
    expect(await Cart.countDocuments({ visits: { $gte: 1 } })).to.equal(1);
    expect(await Cart.estimatedDocumentCount()).to.equal(2);
    expect((await Cart.distinct('userId')).sort()).to.deep.equal(['x1', 'x3']);
    expect((await Cart.distinct('tags')).sort()).to.deep.equal(['z']);
  });

  it('aggregates with $match, $group, $sort+$limit, $lookup, $unwind, $project and $facet', async () => {
    const Order = conn.model(
      'AggOrder',
      new Schema({ customer: String, totalCents: Number, status: String, productId: Schema.Types.ObjectId }),
    );
    const Product = conn.model('AggProduct', new Schema({ name: String }));
    const [p1, p2] = await Product.create([{ name: 'Tea' }, { name: 'Cake' }]);
    await Order.create([
      { customer: 'ann', totalCents: 500, status: 'paid', productId: p1!._id },
      { customer: 'ann', totalCents: 300, status: 'paid', productId: p2!._id },
      { customer: 'bob', totalCents: 900, status: 'paid', productId: p1!._id },
      { customer: 'cat', totalCents: 100, status: 'cancelled', productId: p2!._id },
    ]);
    const byCustomer = await Order.aggregate<{ _id: string; total: number; n: number }>([
      { $match: { status: 'paid' } },
      { $group: { _id: '$customer', total: { $sum: '$totalCents' }, n: { $sum: 1 } } },
      { $sort: { total: -1 } },
      { $limit: 1 },
    ]);
    expect(byCustomer).to.deep.equal([{ _id: 'bob', total: 900, n: 1 }]);

    const joined = await Order.aggregate<{ customer: string; product: string }>([
      { $match: { customer: 'ann' } },
      { $sort: { totalCents: 1 } },
      { $lookup: { from: 'aggproducts', localField: 'productId', foreignField: '_id', as: 'p' } },
      { $unwind: '$p' },
      { $project: { _id: 0, customer: 1, product: '$p.name' } },
    ]);
    expect(joined).to.deep.equal([
      { customer: 'ann', product: 'Cake' },
      { customer: 'ann', product: 'Tea' },
    ]);

    const [facets] = await Order.aggregate<{ count: { n: number }[]; top: { customer: string }[] }>([
      {
        $facet: {
          count: [{ $match: { status: 'paid' } }, { $count: 'n' }],
          top: [{ $sort: { totalCents: -1 } }, { $limit: 2 }, { $project: { _id: 0, customer: 1 } }],
        },
      },
    ]);
    expect(facets!.count).to.deep.equal([{ n: 3 }]);
    expect(facets!.top).to.deep.equal([{ customer: 'bob' }, { customer: 'ann' }]);

    // The stored documents are untouched by aggregation.
    const still = await Order.findOne({ customer: 'bob' }).lean();
    expect(still).to.not.have.property('p');
  });
});
