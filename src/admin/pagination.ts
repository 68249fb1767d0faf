import { Types } from 'mongoose';
import { z } from 'zod';
import { AdminError } from './errors.js';

/**
 * Cursor pagination. A cursor is opaque base64url JSON of the last item's (sort key, _id); the next page
 * is everything strictly after it in (sortKey desc, _id desc) order, so inserts never shift pages and
 * deep pages cost the same as the first.
 */

export type SortKey = Date | string | number;

const cursorSchema = z.tuple([
  z.enum(['d', 's', 'n']),
  z.union([z.string().max(500), z.number()]),
  z.string().regex(/^[a-f0-9]{24}$/),
]);

export interface Cursor {
  readonly key: SortKey;
  readonly id: Types.ObjectId;
}

export function encodeCursor(key: SortKey, id: Types.ObjectId | string): string {
  const tuple =
    key instanceof Date ? ['d', key.toISOString()] : typeof key === 'number' ? ['n', key] : ['s', key];
  return Buffer.from(JSON.stringify([...tuple, String(id)])).toString('base64url');
}

export function decodeCursor(cursor: string): Cursor {
  const invalid = () =>
    new AdminError('validation', 'Invalid cursor', {
      issues: [{ path: ['query', 'cursor'], message: 'invalid cursor' }],
    });
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = cursorSchema.safeParse(raw);
  if (!parsed.success) throw invalid();
  const [type, value, id] = parsed.data;
  let key: SortKey;
  if (type === 'd') {
    const d = new Date(String(value));
    if (Number.isNaN(d.getTime())) throw invalid();
    key = d;
  } else if (type === 'n') {
    if (typeof value !== 'number') throw invalid();
    key = value;
  } else {
    if (typeof value !== 'string') throw invalid();
    key = value;
  }
  return { key, id: new Types.ObjectId(id) };
}

/** `?limit=&cursor=` — shared by every list endpoint (spread into its query schema). */
export const pageQueryShape = {
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(200))
    .optional()
    .describe('Page size, 1–200 (default 50)'),
  cursor: z
    .string()
    .max(1000)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be a cursor returned by a previous page')
    .optional()
    .describe('`nextCursor` of the previous page'),
};

export const DEFAULT_PAGE_SIZE = 50;

/** The list response shape: `{ items, nextCursor }` (null on the last page). */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

export interface PageRequest {
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
}

/**
 * Adds the "after the cursor" condition to a filter. The cursor's values are typed (Date/ObjectId/…),
 * never request objects, so nothing from the client can become an operator here.
 */
export function afterCursor(
  filter: Record<string, unknown>,
  sortField: string,
  page: PageRequest,
): Record<string, unknown> {
  if (!page.cursor) return filter;
  const c = decodeCursor(page.cursor);
  return {
    $and: [filter, { $or: [{ [sortField]: { $lt: c.key } }, { [sortField]: c.key, _id: { $lt: c.id } }] }],
  };
}

export function sortFor(sortField: string): Record<string, -1> {
  return { [sortField]: -1, _id: -1 };
}

export function limitOf(page: PageRequest): number {
  return page.limit ?? DEFAULT_PAGE_SIZE;
}

/** Given `limit + 1` documents, the page and the cursor for the next one. */
export function pageFrom<D extends { _id: Types.ObjectId }, T>(
  docs: D[],
  page: PageRequest,
  keyOf: (doc: D) => SortKey,
  map: (doc: D) => T,
): { items: T[]; nextCursor: string | null } {
  const limit = limitOf(page);
  const more = docs.length > limit;
  const slice = more ? docs.slice(0, limit) : docs;
  const last = slice[slice.length - 1];
  return {
    items: slice.map(map),
    nextCursor: more && last ? encodeCursor(keyOf(last), last._id) : null,
  };
}
