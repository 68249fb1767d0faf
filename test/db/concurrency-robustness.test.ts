import { expect } from 'chai';
import net from 'node:net';
import { serialize } from 'bson';
import mongoose, { Schema, type Connection } from 'mongoose';
import { startTestMongo, type TestMongo } from './helpers.js';

function hostPort(uri: string): { host: string; port: number } {
  const m = /^mongodb:\/\/([^/:,?]+):(\d+)/.exec(uri);
  if (!m) throw new Error(`cannot parse ${uri}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Sends raw bytes and resolves once the server closes the connection (or times out). */
function sendAndAwaitClose(uri: string, bytes: Buffer, timeoutMs = 5000): Promise<'closed' | 'timeout'> {
  return new Promise((resolve) => {
    const sock = net.connect(hostPort(uri));
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('timeout');
    }, timeoutMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', () => undefined);
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

function header(length: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(1, 4);
  h.writeInt32LE(0, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

describe('db conformance: atomicity under concurrency and bad input', () => {
  let mongo: TestMongo;
  let conn: Connection;

  before(async () => {
    mongo = await startTestMongo();
    conn = await mongoose.createConnection(mongo.uri, { maxPoolSize: 50 }).asPromise();
  });
  after(async () => {
    await conn?.close();
    await mongo?.stop();
  });

  it('never oversells: 500 concurrent conditional $inc on 50 seats → exactly 50 succeed', async function () {
    this.timeout(60_000);
    const GroupBuy = conn.model(
      'ConcGroupBuy',
      new Schema({ seats: Number, sold: { type: Number, default: 0 } }),
    );
    const gb = await GroupBuy.create({ seats: 50 });
    const attempts = Array.from({ length: 500 }, () =>
      GroupBuy.findOneAndUpdate(
        { _id: gb._id, $expr: { $lt: ['$sold', '$seats'] } },
        { $inc: { sold: 1 } },
        { returnDocument: 'after' },
      ).lean(),
    );
    const results = await Promise.all(attempts);
    const ok = results.filter((r) => r !== null);
    expect(ok).to.have.length(50);
    expect(new Set(ok.map((r) => r!.sold)).size).to.equal(50);
    expect((await GroupBuy.findById(gb._id).lean())?.sold).to.equal(50);
  });

  it('keeps a stock counter exact under concurrent updateOne with a guard', async () => {
    const Stock = conn.model('ConcStock', new Schema({ sku: { type: String, unique: true }, left: Number }));
    await Stock.init();
    await Stock.create({ sku: 'tea', left: 30 });
    const res = await Promise.all(
      Array.from({ length: 200 }, () =>
        Stock.updateOne({ sku: 'tea', left: { $gt: 0 } }, { $inc: { left: -1 } }),
      ),
    );
    expect(res.filter((r) => r.modifiedCount === 1)).to.have.length(30);
    expect((await Stock.findOne({ sku: 'tea' }).lean())?.left).to.equal(0);
  });

  it('lets exactly one of many concurrent inserts claim a unique key', async () => {
    const Claim = conn.model('ConcClaim', new Schema({ key: { type: String, unique: true }, by: Number }));
    await Claim.init();
    const settled = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => Claim.create({ key: 'k', by: i })),
    );
    expect(settled.filter((s) => s.status === 'fulfilled')).to.have.length(1);
    for (const s of settled) {
      if (s.status === 'rejected') expect((s.reason as { code: number }).code).to.equal(11000);
    }
  });

  it('closes a connection that sends a malformed or oversized message, and keeps serving others', async () => {
    const Thing = conn.model('RobustThing', new Schema({ n: Number }));
    await Thing.create({ n: 1 });
    expect(await sendAndAwaitClose(mongo.uri, header(4, 2013))).to.equal('closed'); // length below a header
    expect(await sendAndAwaitClose(mongo.uri, header(200_000_000, 2013))).to.equal('closed'); // oversized
    const badBson = Buffer.concat([
      header(16 + 4 + 1 + 10, 2013),
      Buffer.from([0, 0, 0, 0, 0]),
      Buffer.alloc(10, 0xee),
    ]);
    expect(await sendAndAwaitClose(mongo.uri, badBson)).to.equal('closed');
    const body = Buffer.from(serialize({ ping: 1, $db: 'admin' }));
    const unknownOp = Buffer.concat([header(16 + body.length, 9999), body]);
    expect(await sendAndAwaitClose(mongo.uri, unknownOp)).to.equal('closed');
    // the pooled mongoose connections and the server are unaffected
    expect(await Thing.countDocuments()).to.equal(1);
    await Thing.create({ n: 2 });
    expect(await Thing.countDocuments()).to.equal(2);
  });

  it('answers unknown commands with code 59 and transaction numbers with code 20', async () => {
    const admin = conn.db!.admin();
    let err = (await admin.command({ definitelyNotACommand: 1 }).catch((e: unknown) => e)) as {
      code: number;
    };
    expect(err.code).to.equal(59);
    err = (await conn
      .db!.command({ find: 'x', txnNumber: 1 as never, lsid: { id: new mongoose.mongo.UUID() } })
      .catch((e: unknown) => e)) as { code: number };
    expect(err.code).to.equal(20);
    {
      const session = await conn.startSession();
      const Thing = conn.model('TxnThing', new Schema({ n: Number }));
      await Thing.createCollection();
      session.startTransaction();
      const txErr = (await Thing.create([{ n: 1 }], { session }).catch((e: unknown) => e)) as Error;
      // The driver rewrites code 20 on writes into its "retryable writes" hint, exactly as
      // against a real standalone mongod.
      expect(txErr).to.be.instanceOf(Error);
      expect(txErr.message).to.match(/Transaction numbers|retryable writes/);
      expect(await Thing.countDocuments()).to.equal(0);
      await session.abortTransaction().catch(() => undefined);
      await session.endSession();
    }
  });
});
