import { expect } from 'chai';
import mongoose, { Schema, type Connection } from 'mongoose';
import { sharedEmbeddedServer, startTestMongo, type TestMongo } from './helpers.js';

interface DupError {
  code: number;
  keyPattern: Record<string, unknown>;
  keyValue: Record<string, unknown>;
  message: string;
}

async function expectDuplicate(p: Promise<unknown>): Promise<DupError> {
  try {
    await p;
  } catch (err) {
    const e = err as DupError;
    expect(e.code, e.message).to.equal(11000);
    return e;
  }
  throw new Error('expected a duplicate key error');
}

describe('db conformance: indexes', () => {
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

  it('enforces a single-field unique index with MongoDB error shape', async () => {
    const User = conn.model('IxUser', new Schema({ email: { type: String, unique: true } }));
    await User.init();
    await User.create({ email: 'a@x.io' });
    const e = await expectDuplicate(User.create({ email: 'a@x.io' }));
    expect(e.keyPattern).to.deep.equal({ email: 1 });
    expect(e.keyValue).to.deep.equal({ email: 'a@x.io' });
    expect(e.message).to.match(/E11000 duplicate key error collection: .*\.ixusers index: email_1 dup key/);
    // an update into a taken key fails the same way and leaves the document unchanged
    const b = await User.create({ email: 'b@x.io' });
    const e2 = await expectDuplicate(User.updateOne({ _id: b._id }, { $set: { email: 'a@x.io' } }));
    expect(e2.keyValue).to.deep.equal({ email: 'a@x.io' });
    expect((await User.findById(b._id).lean())?.email).to.equal('b@x.io');
    // findOneAndUpdate surfaces it as a command error with the same fields
    const e3 = await expectDuplicate(User.findOneAndUpdate({ _id: b._id }, { $set: { email: 'a@x.io' } }));
    expect(e3.keyPattern).to.deep.equal({ email: 1 });
    // duplicate _id
    const e4 = await expectDuplicate(User.collection.insertOne({ _id: b._id, email: 'c@x.io' }));
    expect(e4.keyPattern).to.deep.equal({ _id: 1 });
  });

  it('enforces compound unique indexes on the whole key only', async () => {
    const schema = new Schema({ pageId: String, psid: String });
    schema.index({ pageId: 1, psid: 1 }, { unique: true });
    const Sub = conn.model('IxSub', schema);
    await Sub.init();
    await Sub.create([
      { pageId: 'p1', psid: 'u1' },
      { pageId: 'p1', psid: 'u2' },
      { pageId: 'p2', psid: 'u1' },
    ]);
    const e = await expectDuplicate(Sub.create({ pageId: 'p1', psid: 'u2' }));
    expect(e.keyPattern).to.deep.equal({ pageId: 1, psid: 1 });
    expect(e.keyValue).to.deep.equal({ pageId: 'p1', psid: 'u2' });
    // a prefix-only equality query is answered correctly
    expect(await Sub.countDocuments({ pageId: 'p1' })).to.equal(2);
    expect(await Sub.countDocuments({ pageId: 'p1', psid: { $in: ['u1', 'u3'] } })).to.equal(1);
  });

  it('lets sparse unique indexes hold many documents without the field', async () => {
    const schema = new Schema({ name: String, referralCode: String });
    schema.index({ referralCode: 1 }, { unique: true, sparse: true });
    const M = conn.model('IxSparse', schema);
    await M.init();
    await M.create([{ name: 'a' }, { name: 'b' }, { name: 'c', referralCode: 'R1' }]);
    const e = await expectDuplicate(M.create({ name: 'd', referralCode: 'R1' }));
    expect(e.keyValue).to.deep.equal({ referralCode: 'R1' });
    // without sparse, two missing values collide as null
    const plain = new Schema({ name: String, code: String });
    plain.index({ code: 1 }, { unique: true });
    const P = conn.model('IxNonSparse', plain);
    await P.init();
    await P.create({ name: 'a' });
    const e2 = await expectDuplicate(P.create({ name: 'b' }));
    expect(e2.keyValue).to.deep.equal({ code: null });
  });

  it('enforces partial unique indexes only on matching documents', async () => {
    const schema = new Schema({ userId: String, status: String });
    schema.index({ userId: 1 }, { unique: true, partialFilterExpression: { status: 'active' } });
    const M = conn.model('IxPartial', schema);
    await M.init();
    await M.create([
      { userId: 'u1', status: 'active' },
      { userId: 'u1', status: 'done' },
      { userId: 'u1', status: 'done' },
    ]);
    const e = await expectDuplicate(M.create({ userId: 'u1', status: 'active' }));
    expect(e.keyPattern).to.deep.equal({ userId: 1 });
    expect(e.keyValue).to.deep.equal({ userId: 'u1' });
    expect(await M.countDocuments({ userId: 'u1' })).to.equal(3);
  });

  it('refuses to build a unique index over existing duplicates, and lists and drops indexes', async () => {
    const coll = conn.db!.collection('ix_build');
    await coll.insertMany([{ k: 1 }, { k: 1 }, { k: 2 }]);
    let code = 0;
    try {
      await coll.createIndex({ k: 1 }, { unique: true });
    } catch (err) {
      code = (err as { code: number }).code;
    }
    expect(code).to.equal(11000);
    await coll.createIndex({ k: 1 }, { name: 'k_plain' });
    await coll.createIndex({ k: 1 }, { name: 'k_plain' }); // idempotent
    const names = (await coll.listIndexes().toArray()).map((i) => i.name as string);
    expect(names).to.deep.equal(['_id_', 'k_plain']);
    await coll.dropIndex('k_plain');
    expect((await coll.listIndexes().toArray()).map((i) => i.name as string)).to.deep.equal(['_id_']);
  });

  it('expires documents through TTL indexes', async function () {
    const schema = new Schema({ token: String, expiresAt: Date });
    schema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });
    const M = conn.model('IxTtl', schema);
    await M.init();
    const past = new Date(Date.now() - 60_000);
    const future = new Date(Date.now() + 3_600_000);
    await M.create([
      { token: 'old', expiresAt: past },
      { token: 'new', expiresAt: future },
      { token: 'none' },
    ]);
    if (mongo.embedded) {
      (await sharedEmbeddedServer()).sweepTtl();
    } else {
      // a real mongod's TTL monitor runs every 60 s
      this.timeout(150_000);
      const deadline = Date.now() + 140_000;
      while ((await M.countDocuments({ token: 'old' })) > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const left = (await M.find().lean()).map((d) => d.token).sort();
    expect(left).to.deep.equal(['new', 'none']);
  });
});
