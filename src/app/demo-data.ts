import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { countProducts } from './catalog.js';
import { importCatalog, type ImportReport } from './catalog-import.js';
import { loadDemoCampaignsIfEmpty } from './demo-campaigns.js';
import { loadDemoProposalIfEmpty } from './demo-proposals.js';

/** The "Denim Lab" demo catalogue (12 products: jeans, tees, jackets) in the JSON import format. */
export const DEMO_CATALOG_PATH = fileURLToPath(new URL('../dev/demo-catalog.json', import.meta.url));

/**
 * Loads the demo catalogue when the page has no products at all (a fresh `npm start`), through the
 * same importer managers use. A page with any product of its own is never touched. The demo group
 * buys (with their demo Page posts) come with it.
 */
export async function loadDemoDataIfEmpty(
  pageId: string,
  now: Date = new Date(),
): Promise<{ readonly loaded: boolean; readonly report?: ImportReport }> {
  if ((await countProducts({ pageId })) > 0) return { loaded: false };
  const report = await importCatalog({ pageId }, createReadStream(DEMO_CATALOG_PATH), { format: 'json' });
  await loadDemoCampaignsIfEmpty(pageId, now);
  await loadDemoProposalIfEmpty(pageId, now);
  return { loaded: true, report };
}
