import { createReadStream, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { recordAudit } from '../app/audit.js';
import {
  formatFromName,
  importCatalog,
  type ImportFormat,
  type ImportReport,
} from '../app/catalog-import.js';
import { cliAuditContext, parsePage, runCli, UsageError } from './admin-cli.js';

const USAGE = `usage: npm run catalog:import -- FILE [--page <page id>] [--dry-run] [--format csv|json]

Imports products from a CSV file (one row per variant; columns sku, variant_sku, category,
category_it, category_en, title_it, title_en, description_it, description_en, price, currency,
size, colour, stock, variant_price, image_url, tags, active) or a JSON array of products.
Products are matched by SKU: running the same file twice changes nothing. Bad lines are reported
with their line numbers and skipped; the rest is imported. --dry-run validates and reports only.`;

/** Files above this size get a progress bar (when stdout is a terminal). */
const PROGRESS_MIN_BYTES = 256 * 1024;

export function formatReport(file: string, report: ImportReport): string {
  const lines: string[] = [];
  for (const i of report.issues) {
    const where = `${file}:${i.line}${i.sku ? ` [${i.sku}]` : ''}`;
    lines.push(`${where}: ${i.reasons.join('; ')}`);
  }
  if (report.issuesTruncated) lines.push(`… more problems not shown (first ${report.issues.length} listed)`);
  lines.push(
    `${report.dryRun ? 'Dry run (nothing written): ' : ''}created ${report.created}, updated ${report.updated}, ` +
      `unchanged ${report.unchanged}, rejected ${report.rejected}`,
  );
  return lines.join('\n');
}

await runCli(
  USAGE,
  (config) => {
    const { values, positionals } = parseArgs({
      options: {
        page: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        format: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw new UsageError('give exactly one FILE');
    const file = positionals[0]!;
    const format = (values.format ?? formatFromName(file)) as ImportFormat | undefined;
    if (format !== 'csv' && format !== 'json') {
      throw new UsageError('cannot tell the format from the file name: use --format csv or --format json');
    }
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new UsageError(`cannot read ${file}`);
    }
    return { file, format, size, dryRun: values['dry-run'] ?? false, pageId: parsePage(values.page, config) };
  },
  async (_env, args) => {
    const now = new Date();
    const bar =
      process.stdout.isTTY && args.size >= PROGRESS_MIN_BYTES
        ? new cliProgress.SingleBar(
            { format: 'importing [{bar}] {percentage}% | {value}/{total} bytes | {eta}s left' },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
    bar?.start(args.size, 0);
    let report: ImportReport;
    try {
      report = await importCatalog({ pageId: args.pageId }, createReadStream(args.file), {
        format: args.format,
        dryRun: args.dryRun,
        onProgress: (bytes) => bar?.update(bytes),
      });
    } finally {
      bar?.stop();
    }
    if (!args.dryRun && report.created + report.updated > 0) {
      await recordAudit(cliAuditContext(args.pageId, now), {
        action: 'catalog.import',
        target: { type: 'catalog', id: args.pageId },
        after: { created: report.created, updated: report.updated, rejected: report.rejected },
      });
    }
    console.log(formatReport(args.file, report));
    if (report.rejected > 0) process.exitCode = 1;
  },
);
