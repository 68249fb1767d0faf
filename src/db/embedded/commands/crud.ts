import { Aggregator, ProcessingMode } from 'mingo';
import { commandError, toCommandError } from '../errors.js';
import { findDocs, projectDocs, type FindOptions } from '../query.js';
import { applyUpdate, buildUpsert, isOperatorUpdate, validateUpdate, withIdFirst } from '../update.js';
import { cloneValue, encodeKey, isPlainObject, MISSING, pathValues, type Doc } from '../values.js';
import { cursorIdArg, numberArg, stringArg, type CommandContext, type CommandHandler } from './context.js';

function docArray(cmd: Doc, field: string): Doc[] {
  const v = cmd[field];
  if (!Array.isArray(v) || !v.every(isPlainObject)) {
    throw commandError('TypeMismatch', `Field '${field}' must be an array of documents`);
  }
  return v;
}

function filterArg(v: unknown): Doc {
  if (v === undefined || v === null) return {};
  if (!isPlainObject(v)) throw commandError('TypeMismatch', 'filter must be an object');
  return v;
}

function writeError(index: number, err: unknown): Doc {
  const e = toCommandError(err);
  return { index, code: e.code, codeName: e.codeName, errmsg: e.message, ...e.extra };
}

function checkId(doc: Doc): void {
  const id = doc._id;
  if (Array.isArray(id)) throw commandError('BadValue', "The '_id' value cannot be of type array");
  if (id instanceof RegExp) throw commandError('BadValue', "The '_id' value cannot be of type regex");
}

const insert: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'insert');
  const docs = docArray(cmd, 'documents');
  const ordered = cmd.ordered !== false;
  const coll = ctx.storage.ensureCollection(ctx.db, name);
  let n = 0;
  const writeErrors: Doc[] = [];
  for (let i = 0; i < docs.length; i++) {
    try {
      const doc = withIdFirst(docs[i]!);
      checkId(doc);
      ctx.storage.insert(coll, doc);
      n++;
    } catch (err) {
      writeErrors.push(writeError(i, err));
      if (ordered) break;
    }
  }
  ctx.stats.opcounters.insert += docs.length;
  return writeErrors.length ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
};

const update: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'update');
  const updates = docArray(cmd, 'updates');
  const ordered = cmd.ordered !== false;
  let n = 0;
  let nModified = 0;
  const upserted: Doc[] = [];
  const writeErrors: Doc[] = [];
  for (let i = 0; i < updates.length; i++) {
    const spec = updates[i]!;
    try {
      const q = filterArg(spec.q);
      const u = validateUpdate(spec.u);
      const multi = spec.multi === true;
      const arrayFilters = Array.isArray(spec.arrayFilters) ? (spec.arrayFilters as Doc[]) : undefined;
      if (multi && !Array.isArray(u) && !isOperatorUpdate(u)) {
        throw commandError('FailedToParse', 'multi update is not supported for replacement-style update');
      }
      let coll = ctx.storage.collection(ctx.db, name);
      const matched = findDocs(coll, q, { limit: multi ? 0 : 1, sort: spec.sort });
      if (matched.length === 0) {
        if (spec.upsert === true) {
          coll ??= ctx.storage.ensureCollection(ctx.db, name);
          const doc = buildUpsert(q, u, arrayFilters);
          checkId(doc);
          ctx.storage.insert(coll, doc);
          n++;
          upserted.push({ index: i, _id: doc._id });
        }
        continue;
      }
      for (const doc of matched) {
        const next = applyUpdate(doc, u, q, arrayFilters);
        n++;
        if (next) {
          ctx.storage.replace(coll!, doc, next);
          nModified++;
        }
      }
    } catch (err) {
      writeErrors.push(writeError(i, err));
      if (ordered) break;
    }
  }
  ctx.stats.opcounters.update += updates.length;
  const reply: Doc = { n, nModified };
  if (upserted.length) reply.upserted = upserted;
  if (writeErrors.length) reply.writeErrors = writeErrors;
  reply.ok = 1;
  return reply;
};

const del: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'delete');
  const deletes = docArray(cmd, 'deletes');
  const ordered = cmd.ordered !== false;
  const coll = ctx.storage.collection(ctx.db, name);
  let n = 0;
  const writeErrors: Doc[] = [];
  for (let i = 0; i < deletes.length; i++) {
    try {
      const spec = deletes[i]!;
      const limit = numberArg(spec, 'limit') ?? 0;
      const matched = findDocs(coll, filterArg(spec.q), { limit: limit === 1 ? 1 : 0 });
      for (const doc of matched) {
        ctx.storage.remove(coll!, doc);
        n++;
      }
    } catch (err) {
      writeErrors.push(writeError(i, err));
      if (ordered) break;
    }
  }
  ctx.stats.opcounters.delete += deletes.length;
  return writeErrors.length ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
};

function cursorReply(
  ns: string,
  ctx: CommandContext,
  docs: Doc[],
  batchSize: number | undefined,
  single = false,
) {
  const batch = ctx.cursors.open(ns, docs, batchSize, single);
  return { cursor: { firstBatch: batch.docs, id: batch.id, ns }, ok: 1 };
}

const find: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'find');
  const filter = filterArg(cmd.filter);
  const rawLimit = numberArg(cmd, 'limit') ?? 0;
  const single = cmd.singleBatch === true || rawLimit < 0;
  const opts: FindOptions = { sort: cmd.sort, skip: numberArg(cmd, 'skip'), limit: Math.abs(rawLimit) };
  const coll = ctx.storage.collection(ctx.db, name);
  const docs = projectDocs(findDocs(coll, filter, opts), cmd.projection, filter);
  ctx.stats.opcounters.query++;
  return cursorReply(`${ctx.db}.${name}`, ctx, docs, numberArg(cmd, 'batchSize'), single);
};

const getMore: CommandHandler = (cmd, ctx) => {
  const id = cursorIdArg(cmd.getMore);
  const name = stringArg(cmd, 'collection');
  const ns = ctx.cursors.nsOf(id);
  if (ns === undefined) throw commandError('CursorNotFound', `cursor id ${id} not found`);
  const batch = ctx.cursors.next(id, numberArg(cmd, 'batchSize'))!;
  ctx.stats.opcounters.getmore++;
  return { cursor: { nextBatch: batch.docs, id: batch.id, ns: ns || `${ctx.db}.${name}` }, ok: 1 };
};

const killCursors: CommandHandler = (cmd, ctx) => {
  const ids = Array.isArray(cmd.cursors) ? cmd.cursors : [];
  const killed: unknown[] = [];
  const notFound: unknown[] = [];
  for (const raw of ids) (ctx.cursors.kill(cursorIdArg(raw)) ? killed : notFound).push(raw);
  return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
};

const findAndModify: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, ctx.name);
  const query = filterArg(cmd.query);
  let coll = ctx.storage.collection(ctx.db, name);
  const [doc] = findDocs(coll, query, { sort: cmd.sort, limit: 1 });
  const arrayFilters = Array.isArray(cmd.arrayFilters) ? (cmd.arrayFilters as Doc[]) : undefined;
  const shape = (d: Doc | null | undefined): Doc | null =>
    d ? (projectDocs([d], cmd.fields, query)[0] ?? null) : null;
  if (cmd.remove === true) {
    if (cmd.update !== undefined)
      throw commandError('FailedToParse', 'Cannot specify both an update and remove=true');
    if (!doc) return { lastErrorObject: { n: 0 }, value: null, ok: 1 };
    ctx.storage.remove(coll!, doc);
    ctx.stats.opcounters.delete++;
    return { lastErrorObject: { n: 1 }, value: shape(doc), ok: 1 };
  }
  if (cmd.update === undefined)
    throw commandError('FailedToParse', 'Either an update or remove=true must be specified');
  const u = validateUpdate(cmd.update);
  ctx.stats.opcounters.update++;
  if (doc) {
    const next = applyUpdate(doc, u, query, arrayFilters);
    if (next) ctx.storage.replace(coll!, doc, next);
    return {
      lastErrorObject: { n: 1, updatedExisting: true },
      value: shape(cmd.new === true ? (next ?? doc) : doc),
      ok: 1,
    };
  }
  if (cmd.upsert !== true) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
  coll ??= ctx.storage.ensureCollection(ctx.db, name);
  const created = buildUpsert(query, u, arrayFilters);
  checkId(created);
  ctx.storage.insert(coll, created);
  return {
    lastErrorObject: { n: 1, updatedExisting: false, upserted: created._id },
    value: cmd.new === true ? shape(created) : null,
    ok: 1,
  };
};

const count: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'count');
  const coll = ctx.storage.collection(ctx.db, name);
  const query = filterArg(cmd.query);
  const skip = Math.max(0, numberArg(cmd, 'skip') ?? 0);
  const limit = Math.abs(numberArg(cmd, 'limit') ?? 0);
  ctx.stats.opcounters.command++;
  if (!coll) return { n: 0, ok: 1 };
  let n: number;
  if (Object.keys(query).length === 0) n = Math.max(0, coll.docs.size - skip);
  else n = findDocs(coll, query, { skip }).length;
  if (limit > 0) n = Math.min(n, limit);
  return { n, ok: 1 };
};

const distinct: CommandHandler = (cmd, ctx) => {
  const name = stringArg(cmd, 'distinct');
  const key = cmd.key;
  if (typeof key !== 'string') throw commandError('TypeMismatch', "'key' must be a string");
  const coll = ctx.storage.collection(ctx.db, name);
  const seen = new Set<string>();
  const values: unknown[] = [];
  for (const doc of findDocs(coll, filterArg(cmd.query))) {
    for (const v of pathValues(doc, key)) {
      // pathValues reports an empty array as itself (an index key); distinct sees no elements.
      if (v === MISSING || (Array.isArray(v) && v.length === 0)) continue;
      const k = encodeKey(v);
      if (seen.has(k)) continue;
      seen.add(k);
      values.push(v);
    }
  }
  return { values, ok: 1 };
};

/**
 * `countDocuments` arrives as `$match` + `{$group: {_id: 1, n: {$sum: 1}}}`; counting the
 * matched documents directly avoids grouping them one by one in mingo.
 */
function countShortcut(rest: Doc[], source: Doc[]): Doc[] | null {
  if (rest.length !== 1 || !isPlainObject(rest[0]!.$group)) return null;
  const group = rest[0]!.$group as Doc;
  const keys = Object.keys(group);
  if (keys.length !== 2 || keys[0] !== '_id') return null;
  const id = group._id;
  if (!(id === null || typeof id === 'number' || (typeof id === 'string' && !id.startsWith('$'))))
    return null;
  const acc = group[keys[1]!];
  if (!isPlainObject(acc) || Object.keys(acc).length !== 1 || acc.$sum !== 1) return null;
  return source.length === 0 ? [] : [{ _id: id, [keys[1]!]: source.length }];
}

/** Stages that never write into their input documents, so the input need not be cloned. */
const NON_MUTATING_STAGES = new Set([
  '$match',
  '$sort',
  '$skip',
  '$limit',
  '$count',
  '$group',
  '$project',
  '$sortByCount',
]);

const aggregate: CommandHandler = (cmd, ctx) => {
  const target = cmd.aggregate;
  const pipeline = cmd.pipeline;
  if (!Array.isArray(pipeline) || !pipeline.every(isPlainObject)) {
    throw commandError('TypeMismatch', "'pipeline' must be an array of objects");
  }
  if (cmd.explain) throw commandError('BadValue', 'explain is not supported by the embedded server');
  if (!isPlainObject(cmd.cursor)) throw commandError('FailedToParse', "The 'cursor' option is required");
  for (const stage of pipeline) {
    const op = Object.keys(stage)[0];
    if (op === '$out' || op === '$merge')
      throw commandError('BadValue', `${op} is not supported by the embedded server`);
  }
  const stages = pipeline as Doc[];
  let source: Doc[] = [];
  let rest = stages;
  let ns = `${ctx.db}.$cmd.aggregate`;
  if (typeof target === 'string') {
    ns = `${ctx.db}.${target}`;
    const coll = ctx.storage.collection(ctx.db, target);
    // A leading $match / $sort / $skip / $limit runs on the indexes (top-k sort) instead of in mingo.
    const opts: FindOptions = {};
    let filter: Doc = {};
    let i = 0;
    if (isPlainObject(stages[i]?.$match)) filter = stages[i++]!.$match as Doc;
    if (isPlainObject(stages[i]?.$sort)) opts.sort = stages[i++]!.$sort;
    if (typeof stages[i]?.$skip === 'number') opts.skip = stages[i++]!.$skip as number;
    if (typeof stages[i]?.$limit === 'number') opts.limit = stages[i++]!.$limit as number;
    source = findDocs(coll, filter, opts);
    rest = stages.slice(i);
  } else if (target !== 1) {
    throw commandError('TypeMismatch', "'aggregate' must be a collection name or 1");
  }
  let results: Doc[] = source;
  const counted = countShortcut(rest, source);
  if (counted) {
    results = counted;
  } else if (rest.length > 0) {
    const mutating = rest.some((s) => !NON_MUTATING_STAGES.has(Object.keys(s)[0]!));
    const storage = ctx.storage;
    const db = ctx.db;
    try {
      const agg = new Aggregator(rest, {
        processingMode: mutating ? ProcessingMode.CLONE_INPUT : ProcessingMode.CLONE_OFF,
        collectionResolver: (name: string) =>
          [...(storage.collection(db, name)?.docs.values() ?? [])].map((d) => cloneValue(d)),
      });
      results = agg.run(source) as Doc[];
    } catch (err) {
      throw toCommandError(err);
    }
  }
  ctx.stats.opcounters.command++;
  const cursorOpts = cmd.cursor as Doc;
  return cursorReply(ns, ctx, results, numberArg(cursorOpts, 'batchSize'));
};

export const crudCommands: Record<string, CommandHandler> = {
  insert,
  update,
  delete: del,
  find,
  getMore,
  killCursors,
  findAndModify,
  findandmodify: findAndModify,
  count,
  distinct,
  aggregate,
};
