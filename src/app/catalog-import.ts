import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { z } from 'zod';
import { ProductModel } from '../db/models/product.js';
import { isCurrency, parseAmount } from '../domain/money.js';
import { normalizeText } from '../domain/text-match.js';
import { upsertProduct, type CatalogContext, type ProductInput, type VariantView } from './catalog.js';

/**
 * Catalogue import from CSV (one row per variant, rows of a product adjacent) or JSON (an array of
 * products). Streams the file, validates every line/element with zod, reports each bad one with its
 * line number and reasons, and upserts the good products by SKU — so running it twice changes
 * nothing the second time. A product with any bad line is not imported at all: importing it without
 * the bad variant would delete that variant from the shop.
 */

export type ImportFormat = 'csv' | 'json';

export interface ImportIssue {
  /** 1-based line as an editor shows it (CSV header = line 1; JSON: where the element starts). */
  readonly line: number;
  readonly sku?: string | undefined;
  readonly reasons: readonly string[];
}

export interface ImportReport {
  readonly dryRun: boolean;
  /** Products. */
  created: number;
  updated: number;
  unchanged: number;
  /** Products not imported (some line of theirs was bad), plus lines that belong to no product. */
  rejected: number;
  /** At most `maxIssues`, in file order; `issuesTruncated` says when more were found. */
  readonly issues: ImportIssue[];
  issuesTruncated: boolean;
}

export interface ImportOptions {
  readonly format: ImportFormat;
  readonly dryRun?: boolean;
  /** Called with the number of bytes read so far (for a progress bar). */
  readonly onProgress?: (bytesRead: number) => void;
  readonly maxIssues?: number;
}

export function formatFromName(name: string): ImportFormat | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.json')) return 'json';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Shared validation pieces

export const skuSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1–64 letters, digits, ".", "_" or "-"');

const MAX_STOCK = 1_000_000;

const imageUrl = z
  .string()
  .trim()
  .max(2000)
  .refine((v) => {
    if (v.startsWith('/') && !v.startsWith('//')) return true;
    try {
      const u = new URL(v);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL or a path starting with "/"');

const shortText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine(
      (v) => ![...v].some((c) => c.charCodeAt(0) < 0x20 && c !== '\n'),
      'must not contain control characters',
    );

const tagSchema = z
  .string()
  .trim()
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} _-]{0,39}$/u, 'tags are 1–40 letters, digits, spaces, "_" or "-"');

const currencySchema = z
  .string()
  .trim()
  .transform((v) => v.toUpperCase())
  .refine(isCurrency, 'must be an ISO 4217 currency code such as EUR');

export function slugify(name: string): string {
  return normalizeText(name).replace(/ /g, '-').slice(0, 40);
}

function titleCase(slug: string): string {
  const s = slug.replace(/-/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function issuesOf(error: z.ZodError): string[] {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message));
}

/** Last checks on a whole product, whatever the format. */
function productProblems(p: ProductInput): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const v of p.variants) {
    if (seen.has(v.sku)) problems.push(`variant SKU ${v.sku} appears twice`);
    seen.add(v.sku);
  }
  if (p.variants.length === 0) problems.push('a product needs at least one variant');
  if (p.variants.length > 100) problems.push('at most 100 variants per product');
  return problems;
}

// ---------------------------------------------------------------------------------------------
// CSV

const CSV_COLUMNS = [
  'sku',
  'variant_sku',
  'category',
  'category_it',
  'category_en',
  'title_it',
  'title_en',
  'description_it',
  'description_en',
  'price',
  'currency',
  'size',
  'colour',
  'stock',
  'variant_price',
  'image_url',
  'tags',
  'active',
] as const;
const REQUIRED_CSV_COLUMNS = ['sku', 'category', 'title_it', 'price', 'stock'] as const;
/** Columns that describe the product (not the variant): later rows may repeat them or leave them empty. */
const PRODUCT_COLUMNS = [
  'category',
  'category_it',
  'category_en',
  'title_it',
  'title_en',
  'description_it',
  'description_en',
  'price',
  'currency',
  'image_url',
  'tags',
  'active',
] as const;

const opt = (s: z.ZodType<string>) => z.union([z.literal(''), s]).optional();

const csvRowSchema = z
  .object({
    sku: skuSchema,
    variant_sku: opt(skuSchema),
    category: shortText(60).pipe(z.string().min(1, 'is required')),
    category_it: opt(shortText(60)),
    category_en: opt(shortText(60)),
    title_it: shortText(200).pipe(z.string().min(1, 'is required')),
    title_en: opt(shortText(200)),
    description_it: opt(shortText(2000)),
    description_en: opt(shortText(2000)),
    price: z.string().trim().min(1, 'is required'),
    currency: z.union([z.literal(''), currencySchema]).optional(),
    size: opt(shortText(20)),
    colour: opt(shortText(30)),
    stock: z
      .string()
      .trim()
      .regex(/^\d{1,7}$/, 'must be a whole number ≥ 0')
      .transform(Number)
      .pipe(z.number().max(MAX_STOCK, `must be at most ${MAX_STOCK}`)),
    variant_price: z.string().trim().optional(),
    image_url: z.string().optional(),
    tags: z.string().optional(),
    active: z
      .string()
      .trim()
      .toLowerCase()
      .refine(
        (v) => ['', 'true', 'false', 'yes', 'no', 'si', 'sì', '1', '0'].includes(v),
        'must be true or false',
      )
      .optional(),
  })
  .superRefine((row, ctx) => {
    const currency = row.currency || 'EUR';
    if (parseAmount(row.price, currency) === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['price'],
        message: `"${row.price}" is not a price (write 49.90 or 49,90)`,
      });
    }
    if (row.variant_price && parseAmount(row.variant_price, currency) === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['variant_price'],
        message: `"${row.variant_price}" is not a price`,
      });
    }
    for (const url of splitList(row.image_url ?? '', /\|/)) {
      const r = imageUrl.safeParse(url);
      if (!r.success)
        ctx.addIssue({
          code: 'custom',
          path: ['image_url'],
          message: `${url}: ${r.error.issues[0]?.message}`,
        });
    }
    for (const tag of splitList(row.tags ?? '', /[|,;]/)) {
      const r = tagSchema.safeParse(tag);
      if (!r.success)
        ctx.addIssue({ code: 'custom', path: ['tags'], message: `${tag}: ${r.error.issues[0]?.message}` });
    }
  });

type CsvRow = z.output<typeof csvRowSchema>;

function splitList(value: string, sep: RegExp): string[] {
  return value
    .split(sep)
    .map((s) => s.trim())
    .filter(Boolean);
}

function productFromRow(row: CsvRow): Omit<ProductInput, 'variants'> {
  const currency = row.currency || 'EUR';
  const slug = slugify(row.category);
  const nameIt = row.category_it || (row.category === slug ? titleCase(slug) : row.category);
  return {
    sku: row.sku,
    category: { slug, name: { it: nameIt, en: row.category_en || nameIt } },
    title: { it: row.title_it, en: row.title_en || '' },
    description: { it: row.description_it || '', en: row.description_en || '' },
    images: splitList(row.image_url ?? '', /\|/),
    price: { amount: parseAmount(row.price, currency)!, currency },
    active: !['false', 'no', '0'].includes(row.active ?? ''),
    tags: splitList(row.tags ?? '', /[|,;]/),
  };
}

function variantFromRow(row: CsvRow): VariantView {
  const currency = row.currency || 'EUR';
  return {
    sku: row.variant_sku || row.sku,
    size: row.size || undefined,
    colour: row.colour || undefined,
    stock: row.stock,
    priceOverride: row.variant_price ? parseAmount(row.variant_price, currency) : undefined,
  };
}

interface ParsedItem {
  readonly line: number;
  readonly sku: string | undefined;
  readonly product?: ProductInput;
  /** For CSV, one row of a product, not yet validated; the product is assembled from adjacent rows. */
  readonly raw?: Record<string, string>;
  readonly reasons?: readonly string[];
}

async function* csvItems(source: Readable): AsyncGenerator<ParsedItem> {
  const parser = source.pipe(
    parse({
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      info: true,
      raw: true,
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      skip_records_with_error: true,
      trim: false,
    }),
  );
  const skipped: ParsedItem[] = [];
  parser.on('skip', (err: { lines?: number; message?: string }) => {
    skipped.push({
      line: err.lines ?? 0,
      sku: undefined,
      reasons: [`unreadable CSV: ${(err.message ?? 'parse error').replace(/ at line \d+.*$/, '')}`],
    });
  });
  let headerChecked = false;
  for await (const chunk of parser as AsyncIterable<{
    record: Record<string, string>;
    raw: string;
    info: { lines: number; columns?: { name: string }[]; error?: { code?: string; record?: unknown[] } };
  }>) {
    while (skipped.length > 0) yield skipped.shift()!;
    if (!headerChecked) {
      headerChecked = true;
      const names = (chunk.info.columns ?? []).map((c) => c.name);
      const missing = REQUIRED_CSV_COLUMNS.filter((c) => !names.includes(c));
      const unknown = names.filter((n) => !(CSV_COLUMNS as readonly string[]).includes(n));
      if (missing.length > 0 || unknown.length > 0) {
        yield {
          line: 1,
          sku: undefined,
          reasons: [
            ...(missing.length ? [`missing column(s): ${missing.join(', ')}`] : []),
            ...(unknown.length
              ? [`unknown column(s): ${unknown.join(', ')} (known: ${CSV_COLUMNS.join(', ')})`]
              : []),
          ],
        };
        if (missing.length > 0) {
          source.destroy();
          return;
        }
      }
    }
    const body = chunk.raw.replace(/^[\r\n]+/, '').replace(/\r?\n$/, '');
    const line = chunk.info.lines - (body.match(/\n/g)?.length ?? 0);
    const raw = chunk.record;
    const sku = typeof raw.sku === 'string' ? raw.sku.trim() || undefined : undefined;
    if (chunk.info.error?.code === 'CSV_RECORD_INCONSISTENT_COLUMNS') {
      const got = chunk.info.error.record?.length ?? 0;
      const want = chunk.info.columns?.length ?? 0;
      if (got > want) {
        yield {
          line,
          sku,
          reasons: [`has ${got} fields but the header has ${want} (a comma inside an unquoted value?)`],
        };
        continue;
      }
    }
    yield { line, sku, raw };
  }
  while (skipped.length > 0) yield skipped.shift()!;
}

// ---------------------------------------------------------------------------------------------
// JSON

const localizedInput = z.union([
  shortText(200).transform((it) => ({ it, en: '' })),
  z.object({ it: shortText(2000), en: shortText(2000).optional().default('') }).strict(),
]);

const jsonVariantSchema = z
  .object({
    sku: skuSchema,
    size: shortText(20).optional(),
    colour: shortText(30).optional(),
    stock: z.number().int('must be a whole number').min(0).max(MAX_STOCK),
    priceOverride: z.number().int('must be an integer number of cents').min(0).optional(),
  })
  .strict();

const jsonProductSchema = z
  .object({
    sku: skuSchema,
    category: z.union([
      shortText(60).pipe(z.string().min(1)),
      z
        .object({
          slug: z
            .string()
            .trim()
            .regex(/^[a-z0-9-]{1,40}$/),
          name: localizedInput,
        })
        .strict(),
    ]),
    title: localizedInput.refine((t) => t.it.length > 0, 'title.it is required'),
    description: localizedInput.optional(),
    images: z.array(imageUrl).max(10).optional().default([]),
    price: z.union([
      z
        .object({
          amount: z.number().int('must be an integer number of cents').min(0),
          currency: currencySchema,
        })
        .strict(),
      z.string(),
    ]),
    currency: currencySchema.optional(),
    variants: z.array(jsonVariantSchema).min(1).max(100),
    active: z.boolean().optional().default(true),
    tags: z.array(tagSchema).max(30).optional().default([]),
  })
  .strict();

function productFromJson(p: z.output<typeof jsonProductSchema>): ProductInput | string {
  let price: { amount: number; currency: string };
  if (typeof p.price === 'string') {
    const currency = p.currency ?? 'EUR';
    const amount = parseAmount(p.price, currency);
    if (amount === undefined)
      return `price: "${p.price}" is not a price (write "49.90" or {"amount": 4990, "currency": "EUR"})`;
    price = { amount, currency };
  } else price = p.price;
  const category =
    typeof p.category === 'string'
      ? { slug: slugify(p.category), name: { it: p.category, en: p.category } }
      : {
          slug: p.category.slug,
          name: { it: p.category.name.it, en: p.category.name.en || p.category.name.it },
        };
  return {
    sku: p.sku,
    category,
    title: p.title,
    description: p.description ?? { it: '', en: '' },
    images: p.images,
    price,
    variants: p.variants.map((v) => ({
      sku: v.sku,
      size: v.size || undefined,
      colour: v.colour || undefined,
      stock: v.stock,
      priceOverride: v.priceOverride,
    })),
    active: p.active,
    tags: p.tags,
  };
}

const MAX_ELEMENT_CHARS = 1_000_000;

/**
 * Splits a JSON array into its top-level elements as text, without holding more than one element in
 * memory, and notes the line each element starts on.
 */
async function* jsonElements(
  source: Readable,
): AsyncGenerator<{ line: number; text: string } | { line: number; error: string }> {
  let line = 1;
  let state: 'start' | 'between' | 'element' | 'end' = 'start';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let current = '';
  let startLine = 1;
  let tooLong = false;
  source.setEncoding('utf8');
  for await (const chunk of source as AsyncIterable<string>) {
    for (const ch of chunk) {
      if (state === 'start') {
        if (ch === '\n') line++;
        if (/\s/.test(ch) || ch === '\uFEFF') continue;
        if (ch !== '[') {
          yield { line, error: 'the file must be a JSON array of products ([ {...}, {...} ])' };
          return;
        }
        state = 'between';
        continue;
      }
      if (state === 'between') {
        if (ch === '\n') line++;
        if (/\s/.test(ch) || ch === ',') continue;
        if (ch === ']') {
          state = 'end';
          continue;
        }
        state = 'element';
        startLine = line;
        current = '';
        tooLong = false;
        depth = 0;
        inString = false;
      }
      if (state === 'end') {
        if (ch === '\n') line++;
        if (!/\s/.test(ch)) {
          yield { line, error: 'unexpected text after the closing "]"' };
          return;
        }
        continue;
      }
      // state === 'element'
      if (ch === '\n') line++;
      if (current.length < MAX_ELEMENT_CHARS) current += ch;
      else tooLong = true;
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === '\\') escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') depth--;
      const scalarEnd = depth === 0 && (ch === '}' || ch === ']');
      if (scalarEnd || depth < 0) {
        state = 'between';
        if (tooLong) yield { line: startLine, error: `element larger than ${MAX_ELEMENT_CHARS} characters` };
        else yield { line: startLine, text: current };
      } else if (depth === 0 && ch === ',') {
        // A scalar element (not an object): report it.
        state = 'between';
        yield { line: startLine, error: 'each element must be a product object' };
      }
    }
  }
  if (state === 'start') yield { line, error: 'the file is empty' };
  else if (state === 'element' || state === 'between')
    yield { line, error: 'the file ends before the closing "]"' };
}

async function* jsonItems(source: Readable): AsyncGenerator<ParsedItem> {
  for await (const el of jsonElements(source)) {
    if ('error' in el) {
      yield { line: el.line, sku: undefined, reasons: [el.error] };
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(el.text);
    } catch (error) {
      yield { line: el.line, sku: undefined, reasons: [`invalid JSON: ${(error as Error).message}`] };
      continue;
    }
    const sku =
      typeof value === 'object' && value !== null && typeof (value as { sku?: unknown }).sku === 'string'
        ? (value as { sku: string }).sku
        : undefined;
    const parsed = jsonProductSchema.safeParse(value);
    if (!parsed.success) {
      yield { line: el.line, sku, reasons: issuesOf(parsed.error) };
      continue;
    }
    const product = productFromJson(parsed.data);
    if (typeof product === 'string') yield { line: el.line, sku, reasons: [product] };
    else yield { line: el.line, sku, product };
  }
}

// ---------------------------------------------------------------------------------------------
// The import

function counting(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  onProgress?: (n: number) => void,
): Readable {
  let read = 0;
  async function* gen(): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      read += buf.length;
      onProgress?.(read);
      yield buf;
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

interface PendingProduct {
  readonly sku: string;
  readonly line: number;
  base: Omit<ProductInput, 'variants'> | undefined;
  /** The first row as written: later rows may leave product columns empty. */
  readonly raw: Record<string, string> | undefined;
  readonly variants: VariantView[];
  readonly bad: number[];
  rows: number;
}

export async function importCatalog(
  ctx: CatalogContext,
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  opts: ImportOptions,
): Promise<ImportReport> {
  const maxIssues = opts.maxIssues ?? 1000;
  const report: ImportReport = {
    dryRun: opts.dryRun ?? false,
    created: 0,
    updated: 0,
    unchanged: 0,
    rejected: 0,
    issues: [],
    issuesTruncated: false,
  };
  const issue = (i: ImportIssue) => {
    if (report.issues.length < maxIssues) report.issues.push(i);
    else report.issuesTruncated = true;
  };
  /** Products done in this run (SKU → first line), and variant SKUs (→ product): strings only. */
  const done = new Map<string, number>();
  const variantOwner = new Map<string, string>();

  const save = async (product: ProductInput, line: number): Promise<void> => {
    const problems = productProblems(product);
    for (const v of product.variants) {
      const owner = variantOwner.get(v.sku);
      if (owner !== undefined && owner !== product.sku)
        problems.push(`variant SKU ${v.sku} already belongs to product ${owner} in this file`);
    }
    if (problems.length === 0) {
      // One equality probe per variant: each is an index lookup on (pageId, variants.sku).
      for (const v of product.variants) {
        const owners = await ProductModel.find(
          { pageId: String(ctx.pageId), 'variants.sku': String(v.sku) },
          { sku: 1 },
        ).lean<{ sku: string }[]>();
        const other = owners.find((o) => o.sku !== product.sku);
        if (other) problems.push(`variant SKU ${v.sku} already belongs to product ${other.sku} in the shop`);
      }
    }
    if (problems.length > 0) {
      report.rejected++;
      issue({ line, sku: product.sku, reasons: problems });
      return;
    }
    for (const v of product.variants) variantOwner.set(v.sku, product.sku);
    const outcome = await upsertProduct(ctx, product, { dryRun: opts.dryRun ?? false });
    report[outcome]++;
  };

  const source$ = counting(source, opts.onProgress);

  if (opts.format === 'json') {
    for await (const item of jsonItems(source$)) {
      if (!item.product) {
        report.rejected++;
        issue({ line: item.line, sku: item.sku, reasons: item.reasons ?? ['invalid'] });
        continue;
      }
      const first = done.get(item.product.sku);
      if (first !== undefined) {
        report.rejected++;
        issue({
          line: item.line,
          sku: item.product.sku,
          reasons: [`SKU ${item.product.sku} already on line ${first}`],
        });
        continue;
      }
      done.set(item.product.sku, item.line);
      await save(item.product, item.line);
    }
    return report;
  }

  let pending: PendingProduct | undefined;
  const flush = async () => {
    const p = pending;
    pending = undefined;
    if (!p) return;
    if (p.bad.length > 0 || !p.base) {
      report.rejected++;
      if (p.rows > p.bad.length) {
        issue({
          line: p.line,
          sku: p.sku,
          reasons: [`product ${p.sku} not imported: line(s) ${p.bad.join(', ')} have errors`],
        });
      }
      return;
    }
    await save({ ...p.base, variants: p.variants }, p.line);
  };

  for await (const item of csvItems(source$)) {
    if (item.sku !== undefined && pending && item.sku !== pending.sku) await flush();
    let reasons = item.reasons;
    let values: CsvRow | undefined;
    const raw = item.raw;
    if (raw) {
      const continuation = pending !== undefined && pending.sku === item.sku && pending.rows > 0;
      let merged = raw;
      if (continuation && pending!.base && pending!.raw) {
        const base = pending!.raw;
        const differs = PRODUCT_COLUMNS.filter((c) => {
          const v = (raw[c] ?? '').trim();
          return v !== '' && v !== (base[c] ?? '').trim();
        });
        if (differs.length > 0) {
          reasons = differs.map(
            (c) => `${c} differs from line ${pending!.line} (product columns must match or be empty)`,
          );
        }
        merged = { ...raw };
        for (const c of PRODUCT_COLUMNS) if ((raw[c] ?? '').trim() === '') merged[c] = base[c] ?? '';
      }
      if (!reasons) {
        const parsed = csvRowSchema.safeParse(merged);
        if (parsed.success) values = parsed.data;
        else reasons = issuesOf(parsed.error);
      }
    }
    if (!values) {
      issue({ line: item.line, sku: item.sku, reasons: reasons ?? ['invalid'] });
      if (item.sku !== undefined && pending?.sku === item.sku) {
        pending.bad.push(item.line);
        pending.rows++;
      } else if (item.sku !== undefined && !done.has(item.sku) && skuSchema.safeParse(item.sku).success) {
        // The product's first row is bad: its next rows must not be imported as a product without it.
        done.set(item.sku, item.line);
        pending = {
          sku: item.sku,
          line: item.line,
          base: undefined,
          raw,
          variants: [],
          bad: [item.line],
          rows: 1,
        };
      } else if (item.line > 1 || item.sku !== undefined) report.rejected++;
      continue;
    }
    if (!pending) {
      const first = done.get(values.sku);
      if (first !== undefined) {
        report.rejected++;
        issue({
          line: item.line,
          sku: values.sku,
          reasons: [`rows of product ${values.sku} must be adjacent (it started on line ${first})`],
        });
        continue;
      }
      done.set(values.sku, item.line);
      pending = {
        sku: values.sku,
        line: item.line,
        base: productFromRow(values),
        raw,
        variants: [],
        bad: [],
        rows: 0,
      };
    }
    pending.base ??= productFromRow(values);
    pending.rows++;
    pending.variants.push(variantFromRow(values));
  }
  await flush();
  report.issues.sort((a, b) => a.line - b.line);
  return report;
}
