import { commandError, MongoCommandError, ErrorCodes } from './errors.js';
import { formatKeyValue, Index, normaliseIndexSpec, sameIndexOptions, type IndexSpec } from './indexes.js';
import { IdOrder } from './id-order.js';
import { idKeyOf, type Doc } from './values.js';

/** Where storage sends the redo records of every mutation (the journal, or nothing in memory mode). */
export interface JournalSink {
  append(record: Doc): void;
}

/**
 * Journal/snapshot record shapes. Documents are logged as full after-images so replay is
 * idempotent: replaying a journal on top of a snapshot that already contains part of it
 * converges to the same state.
 */
export type StorageRecord =
  | { o: 'c'; db: string; c: string; opts: Doc }
  | { o: 'dc'; db: string; c: string }
  | { o: 'dd'; db: string }
  | { o: 'ci'; db: string; c: string; spec: IndexSpec }
  | { o: 'di'; db: string; c: string; name: string }
  | { o: 'p'; db: string; c: string; d: Doc }
  | { o: 'r'; db: string; c: string; id: unknown };

export const ID_INDEX_SPEC: IndexSpec = { v: 2, key: { _id: 1 }, name: '_id_' };

export class Collection {
  /** Documents by encoded _id; Map keeps insertion order, which serves as natural order. */
  readonly docs = new Map<string, Doc>();
  readonly indexes: Index[] = [];
  /** Built on the first query that needs `_id` order, then kept up to date by Storage. */
  private order: IdOrder | null = null;

  constructor(
    readonly db: string,
    readonly name: string,
    readonly options: Doc,
  ) {}

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  /** The `_id`s in BSON order (built once, on first use, so collections never queried by range pay nothing). */
  idOrder(): IdOrder {
    this.order ??= IdOrder.build([...this.docs].map(([k, d]) => [k, d._id]));
    return this.order;
  }

  /** Storage calls these after changing `docs`; a no-op until the order is first used. */
  orderAdded(key: string, id: unknown): void {
    this.order?.add(id, key);
  }

  orderRemoved(key: string, id: unknown): void {
    this.order?.delete(id, key);
  }

  indexSpecs(): IndexSpec[] {
    return [ID_INDEX_SPEC, ...this.indexes.map((i) => i.spec)];
  }
}

function validateNames(db: string, coll?: string): void {
  if (!db || /[/\\. "$\0]/.test(db)) throw commandError('InvalidNamespace', `Invalid database name: '${db}'`);
  if (coll !== undefined && (!coll || coll.includes('\0') || coll.startsWith('$') || coll.startsWith('.'))) {
    throw commandError('InvalidNamespace', `Invalid collection name: ${db}.${coll}`);
  }
}

/**
 * All databases, collections, documents and indexes. Every mutation goes through here so
 * that indexes and the journal can never drift from the documents. Stored documents are
 * never mutated in place: updates build a new object and swap it in, which is what lets
 * cursors and replies hold plain references without copying.
 */
export class Storage {
  private readonly dbs = new Map<string, Map<string, Collection>>();
  journal: JournalSink | null = null;
  /** True while replaying the journal: records are trusted and not re-logged. */
  private replaying = false;

  private log(record: StorageRecord): void {
    if (!this.replaying) this.journal?.append(record as unknown as Doc);
  }

  databaseNames(): string[] {
    return [...this.dbs.keys()];
  }

  collections(db: string): Collection[] {
    return [...(this.dbs.get(db)?.values() ?? [])];
  }

  collection(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  /** Implicit creation, as on a first insert or createIndexes. */
  ensureCollection(db: string, name: string): Collection {
    return this.collection(db, name) ?? this.createCollection(db, name, {});
  }

  createCollection(db: string, name: string, options: Doc): Collection {
    validateNames(db, name);
    if (this.collection(db, name)) {
      throw commandError('NamespaceExists', `Collection ${db}.${name} already exists.`);
    }
    let colls = this.dbs.get(db);
    if (!colls) this.dbs.set(db, (colls = new Map()));
    const coll = new Collection(db, name, options);
    colls.set(name, coll);
    this.log({ o: 'c', db, c: name, opts: options });
    return coll;
  }

  dropCollection(db: string, name: string): Collection | undefined {
    const colls = this.dbs.get(db);
    const coll = colls?.get(name);
    if (!colls || !coll) return undefined;
    colls.delete(name);
    if (colls.size === 0) this.dbs.delete(db);
    this.log({ o: 'dc', db, c: name });
    return coll;
  }

  dropDatabase(db: string): boolean {
    const existed = this.dbs.delete(db);
    if (existed) this.log({ o: 'dd', db });
    return existed;
  }

  /** @returns false when an identical index already existed. */
  createIndex(coll: Collection, rawSpec: Doc): boolean {
    const spec = normaliseIndexSpec(rawSpec);
    const keyStr = JSON.stringify(spec.key);
    if (keyStr === '{"_id":1}' || spec.name === '_id_') {
      if (spec.unique === false) throw commandError('BadValue', 'The _id index cannot be non-unique');
      return false;
    }
    for (const existing of coll.indexes) {
      const sameKey = JSON.stringify(existing.spec.key) === keyStr;
      if (existing.name === spec.name) {
        if (sameKey && sameIndexOptions(existing.spec, spec)) return false;
        throw commandError(
          sameKey ? 'IndexOptionsConflict' : 'IndexKeySpecsConflict',
          `An existing index has the same name as the requested index. ` +
            `When index names are not specified, they are auto generated and can cause conflicts. ` +
            `Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(existing.spec)}`,
        );
      }
      if (sameKey && sameIndexOptions(existing.spec, spec)) {
        throw commandError(
          'IndexOptionsConflict',
          `Index already exists with a different name: ${existing.name}`,
        );
      }
    }
    const index = new Index(spec);
    // Build fully before attaching so a duplicate leaves the collection untouched.
    for (const [id, doc] of coll.docs) {
      const keys = index.keysOf(doc);
      if (!this.replaying) {
        const conflict = index.conflictFor(id, keys);
        if (conflict) throw this.duplicateKeyError(coll, index, doc, conflict.key);
      }
      index.add(id, keys);
    }
    coll.indexes.push(index);
    this.log({ o: 'ci', db: coll.db, c: coll.name, spec });
    return true;
  }

  dropIndex(coll: Collection, name: string): void {
    const i = coll.indexes.findIndex((ix) => ix.name === name);
    if (i < 0) throw commandError('IndexNotFound', `index not found with name [${name}]`);
    coll.indexes.splice(i, 1);
    this.log({ o: 'di', db: coll.db, c: coll.name, name });
  }

  duplicateKeyError(coll: Collection, index: Index | null, doc: Doc, key: string): MongoCommandError {
    const keyPattern = index ? index.spec.key : { _id: 1 };
    const keyValue = index ? index.keyValueFor(doc, key) : { _id: doc._id };
    const name = index ? index.name : '_id_';
    return new MongoCommandError(
      ErrorCodes.DuplicateKey,
      `E11000 duplicate key error collection: ${coll.ns} index: ${name} dup key: ${formatKeyValue(keyValue)}`,
      { keyPattern, keyValue },
    );
  }

  /** Inserts a document the caller will not touch again (it becomes the stored object). */
  insert(coll: Collection, doc: Doc): void {
    const id = idKeyOf(doc._id);
    if (coll.docs.has(id) && !this.replaying) throw this.duplicateKeyError(coll, null, doc, id);
    const keys = coll.indexes.map((ix) => ix.keysOf(doc));
    if (!this.replaying) {
      for (let i = 0; i < coll.indexes.length; i++) {
        const conflict = coll.indexes[i]!.conflictFor(id, keys[i]!);
        if (conflict) throw this.duplicateKeyError(coll, coll.indexes[i]!, doc, conflict.key);
      }
    }
    const previous = coll.docs.get(id);
    if (previous) this.unindex(coll, id, previous);
    for (let i = 0; i < coll.indexes.length; i++) coll.indexes[i]!.add(id, keys[i]!, doc);
    coll.docs.set(id, doc);
    if (!previous) coll.orderAdded(id, doc._id);
    this.log({ o: 'p', db: coll.db, c: coll.name, d: doc });
  }

  /**
   * Swaps `next` in for `prev` (same _id). Unique indexes are checked before anything
   * changes, so a violating update leaves the old document and indexes intact.
   */
  replace(coll: Collection, prev: Doc, next: Doc): void {
    const id = idKeyOf(prev._id);
    const n = coll.indexes.length;
    if (n > 0) {
      const oldKeys = new Array<string[][] | null>(n);
      const newKeys = new Array<string[][] | null>(n);
      let changed = false;
      for (let i = 0; i < n; i++) {
        const ix = coll.indexes[i]!;
        oldKeys[i] = ix.keysOf(prev);
        newKeys[i] = ix.keysOf(next);
        if (!sameKeys(oldKeys[i]!, newKeys[i]!)) {
          changed = true;
          const conflict = this.replaying ? null : ix.conflictFor(id, newKeys[i]!);
          if (conflict) throw this.duplicateKeyError(coll, ix, next, conflict.key);
        }
      }
      if (changed) {
        for (let i = 0; i < n; i++) {
          if (sameKeys(oldKeys[i]!, newKeys[i]!)) continue;
          coll.indexes[i]!.remove(id, oldKeys[i]!, prev);
          coll.indexes[i]!.add(id, newKeys[i]!, next);
        }
      }
    }
    coll.docs.set(id, next);
    this.log({ o: 'p', db: coll.db, c: coll.name, d: next });
  }

  remove(coll: Collection, doc: Doc): void {
    const id = idKeyOf(doc._id);
    const stored = coll.docs.get(id);
    if (!stored) return;
    this.unindex(coll, id, stored);
    coll.docs.delete(id);
    coll.orderRemoved(id, stored._id);
    this.log({ o: 'r', db: coll.db, c: coll.name, id: doc._id });
  }

  private unindex(coll: Collection, id: string, doc: Doc): void {
    for (const ix of coll.indexes) ix.remove(id, ix.keysOf(doc), doc);
  }

  /** Applies one journal or snapshot record. Unknown records are skipped (forward compatibility). */
  applyRecord(rec: Doc): void {
    this.replaying = true;
    try {
      const r = rec as unknown as StorageRecord;
      switch (r.o) {
        case 'c':
          if (!this.collection(r.db, r.c)) this.createCollection(r.db, r.c, r.opts ?? {});
          break;
        case 'dc':
          this.dropCollection(r.db, r.c);
          break;
        case 'dd':
          this.dropDatabase(r.db);
          break;
        case 'ci': {
          const coll = this.ensureCollection(r.db, r.c);
          if (!coll.indexes.some((ix) => ix.name === r.spec.name)) this.createIndex(coll, r.spec);
          break;
        }
        case 'di': {
          const coll = this.collection(r.db, r.c);
          if (coll?.indexes.some((ix) => ix.name === r.name)) this.dropIndex(coll, r.name);
          break;
        }
        case 'p':
          this.insert(this.ensureCollection(r.db, r.c), r.d);
          break;
        case 'r': {
          const coll = this.collection(r.db, r.c);
          if (coll) this.remove(coll, { _id: r.id });
          break;
        }
        default:
          break;
      }
    } finally {
      this.replaying = false;
    }
  }

  /** The whole state as records, in an order that replays into the same state. */
  *snapshotRecords(): Generator<StorageRecord> {
    for (const [db, colls] of this.dbs) {
      for (const coll of colls.values()) {
        yield { o: 'c', db, c: coll.name, opts: coll.options };
        for (const ix of coll.indexes) yield { o: 'ci', db, c: coll.name, spec: ix.spec };
        for (const d of coll.docs.values()) yield { o: 'p', db, c: coll.name, d };
      }
    }
  }
}

function sameKeys(a: string[][] | null, b: string[][] | null): boolean {
  if (a === null || b === null) return a === b;
  const x = a[a.length - 1]!;
  const y = b[b.length - 1]!;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
