import { updateOne, type Modifier, type PipelineStage } from 'mingo/updater';
import { ObjectId } from 'bson';
import { commandError, toCommandError } from './errors.js';
import { equalityConstraints } from './query.js';
import { cloneValue, encodeKey, isPlainObject, type Doc } from './values.js';

export type UpdateSpec = Doc | Doc[];

export function isOperatorUpdate(u: unknown): boolean {
  if (!isPlainObject(u)) return false;
  const keys = Object.keys(u);
  return keys.length > 0 && keys[0]!.startsWith('$');
}

export function validateUpdate(u: unknown): UpdateSpec {
  if (Array.isArray(u)) {
    if (!u.every(isPlainObject)) throw commandError('FailedToParse', 'pipeline stages must be objects');
    return u as Doc[];
  }
  if (!isPlainObject(u))
    throw commandError('FailedToParse', 'Update argument must be an object or a pipeline');
  const keys = Object.keys(u);
  const ops = keys.filter((k) => k.startsWith('$'));
  if (ops.length > 0 && ops.length !== keys.length) {
    throw commandError('FailedToParse', `Unknown modifier: ${keys.find((k) => !k.startsWith('$'))}`);
  }
  if (ops.length === 0) {
    for (const k of keys) {
      if (k.includes('.') || k.startsWith('$')) {
        throw commandError('BadValue', `The dotted field '${k}' in a replacement document is not allowed`);
      }
    }
  }
  return u;
}

function assertSameId(before: Doc, after: Doc): void {
  if (encodeKey(after._id) !== encodeKey(before._id)) {
    throw commandError(
      'ImmutableField',
      "Performing an update on the path '_id' would modify the immutable field '_id'",
    );
  }
}

function runModifier(target: Doc, modifier: Doc, filter: Doc, arrayFilters: Doc[] | undefined): boolean {
  if (Object.keys(modifier).length === 0) return false;
  // Only positional "$" updates need the filter (to locate the element); it costs a re-match.
  const positional = Object.values(modifier).some(
    (fields) => isPlainObject(fields) && Object.keys(fields).some((f) => /(^|\.)\$(\.|$)/.test(f)),
  );
  try {
    const res = updateOne([target], positional ? filter : {}, modifier as Modifier<Doc>, {
      arrayFilters: arrayFilters ?? [],
      cloneMode: 'copy',
    });
    return res.modifiedCount > 0;
  } catch (err) {
    throw toCommandError(err);
  }
}

const FAST_OPERATORS = new Set(['$set', '$unset', '$inc']);

/**
 * $set / $unset / $inc on plain dotted paths through subdocuments — almost every update the
 * app sends — applied without mingo (whose per-call setup dominates a point update) and with
 * copy-on-write along the touched paths only. Returns undefined when the update needs the
 * general path (arrays on the way, positional operators, other operators, conflicts).
 * @returns the new document, null when nothing changes, undefined when not handled.
 */
function fastUpdate(doc: Doc, modifier: Doc): Doc | null | undefined {
  const ops = Object.keys(modifier);
  const paths: string[] = [];
  for (const op of ops) {
    if (!FAST_OPERATORS.has(op)) return undefined;
    const fields = modifier[op];
    if (!isPlainObject(fields)) return undefined;
    for (const [path, value] of Object.entries(fields)) {
      if (path.includes('$') || path === '' || path.startsWith('.') || path.endsWith('.')) return undefined;
      if (op === '$inc' && typeof value !== 'number') return undefined;
      paths.push(path);
    }
  }
  if (paths.length === 0) return undefined;
  // Overlapping paths are a MongoDB error (ConflictingUpdateOperators): let mingo report it.
  const sorted = [...paths].sort();
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1] || sorted[i]!.startsWith(sorted[i - 1]! + '.')) return undefined;
  }
  // Every intermediate value must be a subdocument or absent.
  for (const path of paths) {
    const parts = path.split('.');
    let cur: unknown = doc;
    for (let i = 0; i < parts.length - 1; i++) {
      cur = (cur as Doc)[parts[i]!];
      if (cur === undefined) break;
      if (!isPlainObject(cur)) return undefined;
    }
  }
  const next: Doc = { ...doc };
  let modified = false;
  for (const op of ops) {
    for (const [path, value] of Object.entries(modifier[op] as Doc)) {
      const parts = path.split('.');
      let parent: Doc = next;
      let missingParent = false;
      for (let i = 0; i < parts.length - 1; i++) {
        const child = parent[parts[i]!];
        if (child === undefined) {
          if (op === '$unset') {
            missingParent = true;
            break;
          }
          const created: Doc = {};
          parent[parts[i]!] = created;
          parent = created;
        } else {
          const copy = { ...(child as Doc) };
          parent[parts[i]!] = copy;
          parent = copy;
        }
      }
      if (missingParent) continue;
      const leaf = parts[parts.length - 1]!;
      const had = Object.prototype.hasOwnProperty.call(parent, leaf);
      const old = parent[leaf];
      if (op === '$set') {
        if (!had || encodeKey(old) !== encodeKey(value)) {
          parent[leaf] = value;
          modified = true;
        }
      } else if (op === '$unset') {
        if (had) {
          delete parent[leaf];
          modified = true;
        }
      } else {
        if (had && typeof old !== 'number') {
          if (old === null || typeof old !== 'object') {
            throw commandError(
              'TypeMismatch',
              `Cannot apply $inc to a value of non-numeric type. {_id: ${String(doc._id)}} has the field '${leaf}' of non-numeric type ${old === null ? 'null' : typeof old}`,
            );
          }
          return undefined; // Long / Decimal128: the general path
        }
        const inc = value as number;
        if (!had || inc !== 0) {
          parent[leaf] = ((old as number | undefined) ?? 0) + inc;
          modified = true;
        }
      }
    }
  }
  return modified ? next : null;
}

/**
 * Computes the next version of `doc` without touching it: copy, apply, verify _id.
 * @returns null when the update changes nothing (MongoDB then reports nModified 0 and writes nothing).
 */
export function applyUpdate(
  doc: Doc,
  update: UpdateSpec,
  filter: Doc,
  arrayFilters: Doc[] | undefined,
): Doc | null {
  if (Array.isArray(update)) {
    const docs = [cloneValue(doc)];
    try {
      const res = updateOne(docs, {}, update as PipelineStage[]);
      if (res.modifiedCount === 0) return null;
    } catch (err) {
      throw toCommandError(err);
    }
    const next = docs[0]!;
    assertSameId(doc, next);
    return next;
  }
  if (isOperatorUpdate(update)) {
    const modifier: Doc = { ...(update as Doc) };
    delete modifier.$setOnInsert;
    if (!('_id' in ((modifier.$set as Doc | undefined) ?? {}))) {
      const fast = fastUpdate(doc, modifier);
      if (fast !== undefined) return fast;
    }
    const next = cloneValue(doc);
    if (!runModifier(next, modifier, filter, arrayFilters)) return null;
    assertSameId(doc, next);
    return next;
  }
  const { _id: replacementId, ...rest } = update as Doc;
  if (replacementId !== undefined && encodeKey(replacementId) !== encodeKey(doc._id)) {
    throw commandError(
      'ImmutableField',
      "After applying the update, the (immutable) field '_id' was found to have been altered",
    );
  }
  const next: Doc = { _id: doc._id, ...rest };
  if (encodeKey(next) === encodeKey(doc)) return null;
  return next;
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Doc = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = cur[parts[i]!];
    if (isPlainObject(next)) cur = next;
    else {
      const created: Doc = {};
      cur[parts[i]!] = created;
      cur = created;
    }
  }
  cur[parts[parts.length - 1]!] = value;
}

/** Puts `_id` first, as MongoDB stores it. */
export function withIdFirst(doc: Doc): Doc {
  const keys = Object.keys(doc);
  if (keys[0] === '_id') return doc;
  if (doc._id === undefined) return { _id: new ObjectId(), ...doc };
  const { _id, ...rest } = doc;
  return { _id, ...rest };
}

/**
 * The document an upsert inserts: the filter's equality fields, then the update (with
 * $setOnInsert applied, which mingo lacks), then an _id if none came from either.
 */
export function buildUpsert(filter: Doc, update: UpdateSpec, arrayFilters: Doc[] | undefined): Doc {
  if (!Array.isArray(update) && !isOperatorUpdate(update)) {
    const doc: Doc = { ...(update as Doc) };
    if (doc._id === undefined && filter._id !== undefined && !isPlainObject(filter._id)) doc._id = filter._id;
    return withIdFirst(doc);
  }
  const seed: Doc = {};
  for (const [path, vals] of equalityConstraints(filter)) {
    const raw = filter[path];
    // $in with several values pins nothing; a lone value or $eq does.
    if (vals.length === 1 && !(isPlainObject(raw) && '$in' in raw)) setPath(seed, path, cloneValue(vals[0]));
  }
  for (const [k, v] of Object.entries(filter)) {
    if (
      !k.startsWith('$') &&
      isPlainObject(v) &&
      !Object.keys(v).some((x) => x.startsWith('$')) &&
      !(k in seed)
    ) {
      setPath(seed, k, cloneValue(v));
    }
  }
  let doc = seed;
  if (Array.isArray(update)) {
    const docs = [doc];
    try {
      updateOne(docs, {}, update as PipelineStage[]);
    } catch (err) {
      throw toCommandError(err);
    }
    doc = docs[0]!;
  } else {
    const modifier: Doc = { ...(update as Doc) };
    const onInsert = modifier.$setOnInsert;
    delete modifier.$setOnInsert;
    runModifier(doc, modifier, {}, arrayFilters);
    if (isPlainObject(onInsert)) runModifier(doc, { $set: onInsert }, {}, arrayFilters);
  }
  if (doc._id === undefined) doc._id = new ObjectId();
  return withIdFirst(doc);
}
