/** Unit tests of the embedded server's building blocks (no server, no driver). */
import { expect } from 'chai';
import { Long, ObjectId } from 'bson';
import { Query } from 'mingo';
import { indexCandidates, findDocs, compileFilter, projectDocs } from '../../src/db/embedded/query.js';
import { Storage } from '../../src/db/embedded/storage.js';
import { CursorRegistry } from '../../src/db/embedded/cursors.js';
import { applyUpdate, buildUpsert } from '../../src/db/embedded/update.js';
import { encodeKey, sortDocs } from '../../src/db/embedded/values.js';

function seeded(n: number) {
  const storage = new Storage();
  const coll = storage.ensureCollection('db', 'c');
  storage.createIndex(coll, { key: { email: 1 }, unique: true });
  storage.createIndex(coll, { key: { pageId: 1, psid: 1 }, unique: true });
  storage.createIndex(coll, { key: { status: 1 }, partialFilterExpression: { status: 'x' } });
  for (let i = 0; i < n; i++) {
    storage.insert(coll, {
      _id: new ObjectId(),
      email: `u${i}@x.io`,
      pageId: `p${i % 10}`,
      psid: `s${i}`,
      n: i,
    });
  }
  return { storage, coll };
}

describe('embedded server internals', () => {
  it('answers equality lookups from indexes instead of scanning', () => {
    const { coll } = seeded(5000);
    const some = [...coll.docs.values()][1234]!;
    expect(indexCandidates(coll, { _id: some._id })).to.deep.equal([some]);
    expect(indexCandidates(coll, { email: 'u1234@x.io', n: { $gt: 0 } })).to.deep.equal([some]);
    expect(indexCandidates(coll, { email: { $in: ['u1@x.io', 'u2@x.io', 'nope'] } })).to.have.length(2);
    // compound index used through its prefix, and fully
    expect(indexCandidates(coll, { pageId: 'p4' })).to.have.length(500);
    expect(indexCandidates(coll, { pageId: 'p4', psid: 's1234' })).to.deep.equal([some]);
    expect(indexCandidates(coll, { $and: [{ pageId: 'p4' }, { psid: 's1234' }] })).to.deep.equal([some]);
    // no usable index: null means scan (partial indexes, ranges, regexes, null)
    expect(indexCandidates(coll, { status: 'x' })).to.equal(null);
    expect(indexCandidates(coll, { n: 5 })).to.equal(null);
    expect(indexCandidates(coll, { email: /u1/ })).to.equal(null);
    expect(indexCandidates(coll, { email: null })).to.equal(null);
  });

  it('stops reading index candidates at the limit when nothing is sorted', () => {
    const { coll } = seeded(5000);
    const all = findDocs(coll, { pageId: 'p4', n: { $gte: 100 } });
    expect(all).to.have.length(490);
    const docs = coll.docs;
    const get = docs.get.bind(docs);
    let reads = 0;
    docs.get = (k: string) => (reads++, get(k));
    try {
      const some = findDocs(coll, { pageId: 'p4', n: { $gte: 100 } }, { limit: 3, skip: 1 });
      expect(some).to.deep.equal(all.slice(1, 4));
      expect(reads).to.be.at.most(15);
    } finally {
      docs.get = get;
    }
  });

  it('keeps indexes in step with updates and deletes', () => {
    const { storage, coll } = seeded(10);
    const d = findDocs(coll, { email: 'u3@x.io' })[0]!;
    const next = applyUpdate(d, { $set: { email: 'new@x.io' } }, {}, undefined)!;
    storage.replace(coll, d, next);
    expect(findDocs(coll, { email: 'u3@x.io' })).to.have.length(0);
    expect(findDocs(coll, { email: 'new@x.io' })).to.have.length(1);
    storage.remove(coll, next);
    expect(findDocs(coll, { email: 'new@x.io' })).to.have.length(0);
    // the freed key can be taken again
    storage.insert(coll, { _id: 1, email: 'new@x.io', pageId: 'q', psid: 'q' });
    expect(() => storage.insert(coll, { _id: 2, email: 'new@x.io', pageId: 'r', psid: 'r' })).to.throw(
      /E11000/,
    );
  });

  it('never mutates a stored document when updating', () => {
    const doc = { _id: 1, a: { b: [1, 2], c: 1 }, n: 1 };
    const frozen = JSON.stringify(doc);
    applyUpdate(doc, { $inc: { 'a.c': 1, n: 1 } }, {}, undefined);
    applyUpdate(doc, { $push: { 'a.b': 3 } }, {}, undefined);
    applyUpdate(doc, [{ $set: { z: '$n' } }], {}, undefined);
    expect(JSON.stringify(doc)).to.equal(frozen);
  });

  it('rejects $inc on non-numbers like MongoDB (code 14) and changing _id (code 66)', () => {
    expect(() => applyUpdate({ _id: 1, s: 'x' }, { $inc: { s: 1 } }, {}, undefined))
      .to.throw()
      .with.property('code', 14);
    expect(() => applyUpdate({ _id: 1 }, { $set: { _id: 2 } }, {}, undefined))
      .to.throw()
      .with.property('code', 66);
  });

  it('builds upserts from equality fields, update operators and $setOnInsert', () => {
    const doc = buildUpsert(
      { a: 1, 'b.c': 'x', n: { $gt: 5 }, s: { $eq: 'y' } },
      { $inc: { k: 2 }, $setOnInsert: { created: true } },
      undefined,
    );
    expect(doc._id).to.be.instanceOf(ObjectId);
    const { _id, ...rest } = doc;
    void _id;
    expect(rest).to.deep.equal({ a: 1, b: { c: 'x' }, s: 'y', k: 2, created: true });
  });

  it('encodes keys with MongoDB equality: 1, 1.0 and Long(1) are one key, "1" another', () => {
    expect(encodeKey(1)).to.equal(encodeKey(Long.fromNumber(1)));
    expect(encodeKey(1)).to.not.equal(encodeKey('1'));
    const id = new ObjectId();
    expect(encodeKey(id)).to.equal(encodeKey(new ObjectId(id.toHexString())));
    expect(encodeKey(new Date(5))).to.equal(encodeKey(new Date(5)));
    expect(encodeKey({ a: 1, b: 2 })).to.not.equal(encodeKey({ b: 2, a: 1 }));
    expect(compileFilter({ n: 1 })({ n: Long.fromNumber(1) })).to.equal(true);
    expect(compileFilter({ tags: 'a' })({ tags: ['b', 'a'] })).to.equal(true);
  });

  it('sorts with top-k selection identically to a full sort', () => {
    const docs = Array.from({ length: 5000 }, (_, i) => ({ _id: i, v: (i * 7919) % 1000, d: new Date(i) }));
    const full = sortDocs(docs, [
      ['v', -1],
      ['_id', 1],
    ]);
    const top = sortDocs(
      docs,
      [
        ['v', -1],
        ['_id', 1],
      ],
      25,
    );
    expect(top.map((d) => d._id)).to.deep.equal(full.slice(0, 25).map((d) => d._id));
    expect(sortDocs(docs, [['d', -1]], 3).map((d) => d._id)).to.deep.equal([4999, 4998, 4997]);
    const mixed = sortDocs([{ v: 'a' }, { v: 2 }, { v: null }, {}, { v: new Date(0) }], [['v', 1]]);
    expect(mixed.map((d) => d.v)).to.deep.equal([null, undefined, 2, 'a', new Date(0)]);
  });

  it('projects top-level inclusions as mingo does, _id first, without touching stored documents', () => {
    const docs = [
      { _id: 1, psid: 'a', locale: 'it', optIns: [{ t: 1 }], extra: { x: 1 } },
      { _id: 2, psid: 'b', extra: 2 },
      { _id: new ObjectId(), locale: 'en', reachable: false },
    ];
    const frozen = JSON.stringify(docs);
    for (const projection of [
      { psid: 1, locale: 1, optIns: true, missing: 1 },
      { psid: 1, _id: 0 },
      { _id: 1 },
      { locale: 1, _id: true },
    ]) {
      const mingo = new Query({}).find<Record<string, unknown>>(docs, projection).all();
      const ours = projectDocs(docs, projection, {});
      expect(ours, JSON.stringify(projection)).to.deep.equal(mingo);
      for (const d of ours) if ('_id' in d) expect(Object.keys(d)[0]).to.equal('_id');
    }
    // shapes mingo must interpret are still given to it
    expect(projectDocs(docs, { 'extra.x': 1 }, {})[0]).to.deep.equal({ _id: 1, extra: { x: 1 } });
    expect(projectDocs(docs, { extra: 0 }, {})[1]).to.deep.equal({ _id: 2, psid: 'b' });
    expect(projectDocs(docs, { n: { $literal: 5 } }, {})[0]).to.deep.equal({ _id: 1, n: 5 });
    expect(JSON.stringify(docs)).to.equal(frozen);
  });

  it('forgets idle cursors after the timeout', () => {
    const reg = new CursorRegistry(1000);
    const docs = Array.from({ length: 10 }, (_, i) => ({ _id: i }));
    const first = reg.open('db.c', docs, 3);
    expect(first.docs).to.have.length(3);
    const id = first.id.toBigInt();
    expect(reg.next(id, 3)!.docs).to.have.length(3);
    expect(reg.sweep(Date.now() + 500)).to.equal(0);
    expect(reg.sweep(Date.now() + 5000)).to.equal(1);
    expect(reg.next(id, 3)).to.equal(null);
  });
});
