import os from 'node:os';
import { calculateObjectSize } from 'bson';
import { Query } from 'mingo';
import { commandError } from '../errors.js';
import { MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE } from '../wire.js';
import { isPlainObject, type Doc } from '../values.js';
import { numberArg, stringArg, type CommandHandler } from './context.js';

export const SERVER_VERSION = '7.0.0';

/**
 * No setName: the driver sees a standalone, so it neither starts transactions nor adds
 * txnNumber to retryable writes. No topologyVersion: the driver polls instead of streaming.
 */
const hello: CommandHandler = (_cmd, ctx) => {
  const legacy = ctx.name !== 'hello';
  return {
    ...(legacy ? { ismaster: true } : { isWritablePrimary: true }),
    helloOk: true,
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: ctx.connectionId,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    ok: 1,
  };
};

const ping: CommandHandler = () => ({ ok: 1 });

const buildInfo: CommandHandler = () => ({
  version: SERVER_VERSION,
  gitVersion: 'embedded',
  versionArray: [7, 0, 0, 0],
  bits: 64,
  debug: false,
  maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
  storageEngines: ['embedded'],
  modules: [],
  ok: 1,
});

const endSessions: CommandHandler = () => ({ ok: 1 });

const serverStatus: CommandHandler = (_cmd, ctx) => {
  const uptimeMillis = Date.now() - ctx.stats.startedAt;
  return {
    host: os.hostname(),
    version: SERVER_VERSION,
    process: 'embedded-mongo',
    pid: process.pid,
    uptime: Math.floor(uptimeMillis / 1000),
    uptimeMillis,
    localTime: new Date(),
    connections: { current: ctx.stats.connectionsCurrent, totalCreated: ctx.stats.connectionsTotal },
    opcounters: { ...ctx.stats.opcounters },
    metrics: { cursor: { open: { total: ctx.cursors.size } } },
    ok: 1,
  };
};

const transactionCommand: CommandHandler = () => {
  throw commandError(
    'IllegalOperation',
    'Transaction numbers are only allowed on a replica set member or mongos',
  );
};

const create: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'create');
  if (cmd.viewOn !== undefined)
    throw commandError('BadValue', 'views are not supported by the embedded server');
  const options: Doc = {};
  for (const [k, v] of Object.entries(cmd)) {
    if (k === 'create' || k.startsWith('$') || k === 'lsid' || k === 'writeConcern' || k === 'comment')
      continue;
    options[k] = v;
  }
  ctx.storage.createCollection(ctx.db, name, options);
  return { ok: 1 };
};

const drop: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'drop');
  const coll = ctx.storage.dropCollection(ctx.db, name);
  if (!coll) return { ok: 1 };
  return { nIndexesWas: coll.indexes.length + 1, ns: coll.ns, ok: 1 };
};

const dropDatabase: CommandHandler = (_cmd, ctx) => {
  ctx.storage.dropDatabase(ctx.db);
  return { dropped: ctx.db, ok: 1 };
};

function applyFilter(items: Doc[], filter: unknown): Doc[] {
  if (!isPlainObject(filter) || Object.keys(filter).length === 0) return items;
  const q = new Query(filter);
  return items.filter((d) => q.test(d));
}

const listCollections: CommandHandler = (cmd, ctx) => {
  const nameOnly = cmd.nameOnly === true;
  let entries: Doc[] = ctx.storage.collections(ctx.db).map((c) =>
    nameOnly
      ? { name: c.name, type: 'collection' }
      : {
          name: c.name,
          type: 'collection',
          options: c.options,
          info: { readOnly: false },
          idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
        },
  );
  entries = applyFilter(entries, cmd.filter);
  const ns = `${ctx.db}.$cmd.listCollections`;
  const cursorOpts = isPlainObject(cmd.cursor) ? cmd.cursor : {};
  const batch = ctx.cursors.open(ns, entries, numberArg(cursorOpts, 'batchSize'));
  return { cursor: { firstBatch: batch.docs, id: batch.id, ns }, ok: 1 };
};

function approximateSize(docs: Iterable<Doc>): number {
  let n = 0;
  for (const d of docs) n += calculateObjectSize(d);
  return n;
}

const listDatabases: CommandHandler = (cmd, ctx) => {
  let databases: Doc[] = ctx.storage.databaseNames().map((name) => {
    if (cmd.nameOnly === true) return { name };
    const size = ctx.storage.collections(name).reduce((acc, c) => acc + approximateSize(c.docs.values()), 0);
    return { name, sizeOnDisk: size, empty: size === 0 };
  });
  databases = applyFilter(databases, cmd.filter);
  const totalSize = databases.reduce(
    (acc, d) => acc + (typeof d.sizeOnDisk === 'number' ? d.sizeOnDisk : 0),
    0,
  );
  return cmd.nameOnly === true
    ? { databases, ok: 1 }
    : { databases, totalSize, totalSizeMb: Math.round(totalSize / 1048576), ok: 1 };
};

const createIndexes: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'createIndexes');
  const specs = cmd.indexes;
  if (!Array.isArray(specs) || specs.length === 0 || !specs.every(isPlainObject)) {
    throw commandError('BadValue', "Must specify at least one index to create in 'indexes'");
  }
  const existed = ctx.storage.collection(ctx.db, name) !== undefined;
  const coll = ctx.storage.ensureCollection(ctx.db, name);
  const before = coll.indexes.length + 1;
  let created = 0;
  for (const spec of specs as Doc[]) if (ctx.storage.createIndex(coll, spec)) created++;
  const reply: Doc = {
    numIndexesBefore: before,
    numIndexesAfter: coll.indexes.length + 1,
    createdCollectionAutomatically: !existed,
  };
  if (created === 0) reply.note = 'all indexes already exist';
  reply.ok = 1;
  return reply;
};

const listIndexes: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'listIndexes');
  const coll = ctx.storage.collection(ctx.db, name);
  if (!coll) throw commandError('NamespaceNotFound', `ns does not exist: ${ctx.db}.${name}`);
  const ns = coll.ns;
  const cursorOpts = isPlainObject(cmd.cursor) ? cmd.cursor : {};
  const batch = ctx.cursors.open(ns, coll.indexSpecs() as Doc[], numberArg(cursorOpts, 'batchSize'));
  return { cursor: { firstBatch: batch.docs, id: batch.id, ns }, ok: 1 };
};

const dropIndexes: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, ctx.name);
  const coll = ctx.storage.collection(ctx.db, name);
  if (!coll) throw commandError('NamespaceNotFound', `ns not found ${ctx.db}.${name}`);
  const was = coll.indexes.length + 1;
  const target = cmd.index;
  const names: string[] = [];
  if (target === '*') names.push(...coll.indexes.map((ix) => ix.name));
  else if (typeof target === 'string') names.push(target);
  else if (Array.isArray(target)) names.push(...target.map(String));
  else if (isPlainObject(target)) {
    const key = JSON.stringify(target);
    const ix = coll.indexes.find((i) => JSON.stringify(i.spec.key) === key);
    if (!ix) throw commandError('IndexNotFound', `can't find index with key: ${key}`);
    names.push(ix.name);
  } else throw commandError('BadValue', "'index' must be a name, a key pattern, a list of names or '*'");
  for (const n of names) {
    if (n === '_id_') throw commandError('InvalidOptions', 'cannot drop _id index');
    ctx.storage.dropIndex(coll, n);
  }
  return { nIndexesWas: was, ok: 1 };
};

const connectionStatus: CommandHandler = () => ({
  authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] },
  ok: 1,
});

const whatsmyuri: CommandHandler = () => ({ you: '127.0.0.1', ok: 1 });

const dbStats: CommandHandler = (_cmd, ctx) => {
  const colls = ctx.storage.collections(ctx.db);
  const objects = colls.reduce((a, c) => a + c.docs.size, 0);
  return {
    db: ctx.db,
    collections: colls.length,
    views: 0,
    objects,
    indexes: colls.reduce((a, c) => a + c.indexes.length + 1, 0),
    ok: 1,
  };
};

export const adminCommands: Record<string, CommandHandler> = {
  hello,
  isMaster: hello,
  ismaster: hello,
  ping,
  buildInfo,
  buildinfo: buildInfo,
  endSessions,
  serverStatus,
  abortTransaction: transactionCommand,
  commitTransaction: transactionCommand,
  create,
  drop,
  dropDatabase,
  listCollections,
  listDatabases,
  createIndexes,
  listIndexes,
  dropIndexes,
  deleteIndexes: dropIndexes,
  connectionStatus,
  whatsmyuri,
  dbStats,
};
