/**
 * The embedded server's `_id` order (no server, no driver): range and `_id`-sorted queries walked
 * from the bound must return exactly what filtering and sorting the whole collection returns, and
 * must not look at the rest of the collection.
 */
import { expect } from 'chai';
import { ObjectId } from 'bson';
import { compareIds, IdOrder } from '../../src/db/embedded/id-order.js';
import { compileFilter, findDocs, type FindOptions } from '../../src/db/embedded/query.js';
import { Storage, type Collection } from '../../src/db/embedded/storage.js';
import { compareValues, encodeKey, parseSort, sortDocs, type Doc } from '../../src/db/embedded/values.js';

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomId(r: () => number): unknown {
  const pick = Math.floor(r() * 8);
  switch (pick) {
    case 0:
      return Math.floor(r() * 200) - 100;
    case 1:
      return Math.floor(r() * 2000) / 7;
    case 2:
      return 'k' + Math.floor(r() * 500).toString(36);
    case 3:
      return ObjectId.createFromTime(1_700_000_000 + Math.floor(r() * 1000));
    case 4:
      return new Date(1_700_000_000_000 + Math.floor(r() * 100_000));
    case 5:
      return r() < 0.5;
    case 6:
      return { a: Math.floor(r() * 5) };
    default:
      return new ObjectId();
  }
}

/** What the collection scan did before the `_id` order existed: filter everything, then sort. */
function scanReference(coll: Collection, filter: Doc, opts: FindOptions): Doc[] {
  const match = compileFilter(filter);
  const matched = [...coll.docs.values()].filter((d) => match(d));
  const spec = parseSort(opts.sort) ?? [['_id', 1]];
  const sorted = sortDocs(matched, spec);
  const skip = opts.skip ?? 0;
  return sorted.slice(skip, opts.limit ? skip + opts.limit : undefined);
}

const keys = (docs: Doc[]) => docs.map((d) => encodeKey(d._id));
const atKeys = (docs: Doc[]) => docs.map((d) => encodeKey(d.at));

describe('embedded server: _id order', () => {
  it('orders ids as BSON does across types, ObjectIds by their bytes', () => {
    const ids: unknown[] = [
      new Date(2000),
      true,
      'b',
      new ObjectId('ff0000000000000000000000'),
      { a: 2 },
      null,
      10,
      -5.5,
      'a',
      false,
      new ObjectId('0a0000000000000000000000'),
      { a: 1 },
      new Date(1000),
      3,
    ];
    const order = IdOrder.build(ids.map((v) => [encodeKey(v), v]));
    const seen: string[] = [];
    order.walk(order.start(), order.end(), 1, (k) => (seen.push(k), true));
    const expected: unknown[] = [
      null,
      -5.5,
      3,
      10,
      'a',
      'b',
      { a: 1 },
      { a: 2 },
      new ObjectId('0a0000000000000000000000'),
      new ObjectId('ff0000000000000000000000'),
      false,
      true,
      new Date(1000),
      new Date(2000),
    ];
    expect(seen).to.deep.equal(expected.map(encodeKey));
    for (let i = 0; i < ids.length; i++) {
      for (let j = 0; j < ids.length; j++) {
        expect(Math.sign(compareIds(ids[i], ids[j]))).to.equal(Math.sign(compareValues(ids[i], ids[j])));
      }
    }
  });

  it('stays sorted through random inserts and deletes (chunks split and empty)', () => {
    const r = rng(7);
    const order = new IdOrder();
    const live = new Map<string, unknown>();
    for (let step = 0; step < 20_000; step++) {
      const v = randomId(r);
      const k = encodeKey(v);
      if (live.has(k) || (live.size > 0 && r() < 0.3)) {
        const victim = live.has(k) ? k : [...live.keys()][Math.floor(r() * live.size)]!;
        order.delete(live.get(victim), victim);
        live.delete(victim);
      } else {
        order.add(v, k);
        live.set(k, v);
      }
    }
    const walked: string[] = [];
    order.walk(order.start(), order.end(), 1, (k) => (walked.push(k), true));
    const expected = [...live.entries()]
      .sort(([ka, a], [kb, b]) => compareIds(a, b) || (ka < kb ? -1 : 1))
      .map(([k]) => k);
    expect(order.size).to.equal(live.size);
    expect(walked).to.deep.equal(expected);
    const back: string[] = [];
    order.walk(order.start(), order.end(), -1, (k) => (back.push(k), true));
    expect(back).to.deep.equal([...expected].reverse());
  });

  it('answers ranges, _id sorts, skips and limits exactly like a full scan, across writes', () => {
    const r = rng(42);
    const storage = new Storage();
    const coll = storage.ensureCollection('db', 'c');
    storage.createIndex(coll, { key: { g: 1, n: 1 } });
    const insertRandom = () => {
      const _id = randomId(r);
      if (coll.docs.has(encodeKey(_id))) return;
      storage.insert(coll, { _id, g: ['x', 'y', 'z'][Math.floor(r() * 3)], n: Math.floor(r() * 10) });
    };
    for (let i = 0; i < 3000; i++) insertRandom();
    const bounds = () => randomId(r);
    let checked = 0;
    let nonEmpty = 0;
    for (let round = 0; round < 600; round++) {
      // writes between queries, after the order exists, must keep it exact
      for (let w = 0; w < 5; w++) {
        if (r() < 0.5) insertRandom();
        else {
          const all = [...coll.docs.values()];
          storage.remove(coll, all[Math.floor(r() * all.length)]!);
        }
      }
      const idCond: Doc = {};
      const ops = ['$gt', '$gte', '$lt', '$lte'];
      for (let c = 0, n = 1 + Math.floor(r() * 2); c < n; c++) {
        idCond[ops[Math.floor(r() * 4)]!] = bounds();
      }
      const shape = Math.floor(r() * 5);
      const filter: Doc =
        shape === 0
          ? { _id: idCond }
          : shape === 1
            ? { g: 'x', _id: idCond }
            : shape === 2
              ? { $and: [{ g: { $in: ['x', 'y'] }, n: { $lt: 7 } }, { _id: idCond }] }
              : shape === 3
                ? { n: { $gte: 2 }, _id: idCond }
                : { g: 'y' };
      const sort = [undefined, { _id: 1 }, { _id: -1 }][Math.floor(r() * 3)];
      const opts: FindOptions = {
        sort,
        skip: r() < 0.2 ? Math.floor(r() * 4) : 0,
        limit: [0, 1, 5, 50, 500][Math.floor(r() * 5)],
      };
      if (sort === undefined) {
        // Unsorted, the order (and so which documents a limit keeps) is the plan's, as on MongoDB:
        // compare whole results in _id order.
        if (shape === 4) continue;
        opts.skip = 0;
        opts.limit = 0;
      }
      const found = findDocs(coll, filter, opts);
      const got = sort === undefined ? sortDocs(found, [['_id', 1]]) : found;
      const want = scanReference(coll, filter, opts);
      expect(keys(got), JSON.stringify({ round, filter, opts })).to.deep.equal(keys(want));
      checked++;
      if (want.length > 0) nonEmpty++;
    }
    expect(checked).to.be.greaterThan(400);
    expect(nonEmpty).to.be.greaterThan(150);
  });

  it('walks from the bound and stops at the limit instead of reading the collection', () => {
    const storage = new Storage();
    const coll = storage.ensureCollection('db', 'fans');
    // every document has the same pageId, as every fan of the one Page: the equality index
    // would return the whole collection, so the walk must win
    storage.createIndex(coll, { key: { pageId: 1, psid: 1 }, unique: true });
    const ids: ObjectId[] = [];
    for (let i = 0; i < 20_000; i++) {
      const _id = ObjectId.createFromTime(1_700_000_000 + i);
      ids.push(_id);
      storage.insert(coll, { _id, pageId: 'p1', psid: `s${i}`, on: i % 2 === 0 });
    }
    findDocs(coll, { _id: { $gt: ids[0] } }, { limit: 1 }); // builds the order once
    let reads = 0;
    let scans = 0;
    const docs = coll.docs;
    const get = docs.get.bind(docs);
    const values = docs.values.bind(docs);
    docs.get = (k: string) => (reads++, get(k));
    docs.values = () => (scans++, values());
    try {
      const last = ids[12_345]!;
      const batch = findDocs(
        coll,
        { $and: [{ pageId: 'p1', on: true }, { _id: { $gt: last } }] },
        { sort: { _id: 1 }, limit: 500 },
      );
      expect(batch).to.have.length(500);
      expect(batch[0]!._id).to.deep.equal(ids[12_346]);
      expect(batch[499]!._id).to.deep.equal(ids[12_346 + 998]);
      expect(reads).to.be.at.most(1000);
      const down = findDocs(coll, { _id: { $lte: last } }, { sort: { _id: -1 }, limit: 3 });
      expect(down.map((d) => d.psid)).to.deep.equal(['s12345', 's12344', 's12343']);
      const head = findDocs(coll, {}, { sort: { _id: 1 }, limit: 2, skip: 1 });
      expect(head.map((d) => d.psid)).to.deep.equal(['s1', 's2']);
      expect(reads).to.be.at.most(1010);
      expect(scans).to.equal(0);
    } finally {
      docs.get = get;
      docs.values = values;
    }
  });

  it('walks a large equality posting in the order of the index next field, kept through updates', () => {
    const r = rng(99);
    const storage = new Storage();
    const coll = storage.ensureCollection('db', 'inbox');
    storage.createIndex(coll, { key: { state: 1, at: 1 } });
    let clock = 0;
    // unique times, so the expected order has no ties; a few missing, a few non-dates
    const nextAt = (): unknown => {
      const x = r();
      if (x < 0.03) return undefined;
      if (x < 0.05) return clock++;
      return new Date(1_700_000_000_000 + Math.floor(r() * 1e6) * 1000 + clock++);
    };
    const states = ['pending', 'pending', 'pending', 'done'];
    for (let i = 0; i < 2000; i++) {
      const at = nextAt();
      storage.insert(coll, { _id: i, state: states[i % 4], ...(at === undefined ? {} : { at }) });
    }
    let id = 2000;
    for (let round = 0; round < 300; round++) {
      for (let w = 0; w < 8; w++) {
        const all = [...coll.docs.values()];
        const d = all[Math.floor(r() * all.length)]!;
        const x = r();
        if (x < 0.3) storage.remove(coll, d);
        else if (x < 0.6) storage.insert(coll, { _id: id++, state: 'pending', at: nextAt() });
        else if (x < 0.8) storage.replace(coll, d, { ...d, state: d.state === 'done' ? 'pending' : 'done' });
        else storage.replace(coll, d, { ...d, at: nextAt() });
      }
      const bound = new Date(1_700_000_000_000 + Math.floor(r() * 1e6) * 1000);
      const filter: Doc =
        round % 3 === 0
          ? { state: 'pending' }
          : { state: 'pending', at: { [r() < 0.5 ? '$lte' : '$gt']: bound } };
      const opts: FindOptions = {
        sort: { at: r() < 0.5 ? 1 : -1 },
        skip: r() < 0.2 ? 2 : 0,
        limit: [0, 1, 10, 100][Math.floor(r() * 4)],
      };
      // Documents without `at` tie (as null); MongoDB leaves the order of ties open, so the sort keys
      // are compared, and every document returned must match.
      const got = findDocs(coll, filter, opts);
      const match = compileFilter(filter);
      expect(got.every((d) => match(d))).to.equal(true);
      expect(atKeys(got), JSON.stringify({ round, filter, opts })).to.deep.equal(
        atKeys(scanReference(coll, filter, opts)),
      );
    }
    // an array in the field: that posting falls back to sorting (min/max element), still exact
    storage.insert(coll, { _id: 'arr', state: 'pending', at: [new Date(0), new Date(9e12)] });
    for (const dir of [1, -1] as const) {
      const opts = { sort: { at: dir }, limit: 3 };
      expect(atKeys(findDocs(coll, { state: 'pending' }, opts))).to.deep.equal(
        atKeys(scanReference(coll, { state: 'pending' }, opts)),
      );
    }
    storage.remove(coll, coll.docs.get(encodeKey('arr'))!);
    // and it walks: the first due events of a large posting without reading the others
    findDocs(coll, { state: 'pending' }, { sort: { at: 1 }, limit: 1 });
    const docs = coll.docs;
    const get = docs.get.bind(docs);
    let reads = 0;
    docs.get = (k: string) => (reads++, get(k));
    try {
      const due = findDocs(
        coll,
        { state: 'pending', at: { $lte: new Date(1_700_000_500_000_000) } },
        { sort: { at: 1 }, limit: 5 },
      );
      expect(due).to.have.length(5);
      expect(reads).to.be.at.most(5);
    } finally {
      docs.get = get;
    }
  });
});
