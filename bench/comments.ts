/**
 * npm run bench:comments [-- --comments 500 --batch 50 --latency 150 --interval 30]
 *
 * A burst of comments on one Page post linked to an open group buy, as Meta delivers it: signed feed
 * webhooks carrying `--batch` changes each, all at once. Measures, in one process (bot in simulator
 * mode, embedded database journalled with fsync in a temporary directory as `npm start` uses it, the
 * fake Graph API answering after `--latency` ms):
 *
 * - webhook acknowledgement of the whole burst,
 * - time from the first POST to the last private reply reaching the fake Graph API (and its median),
 * - private replies (must equal the comments: one each, none twice) and public replies (limited to one
 *   per post per `--interval` s),
 * - memory: RSS and heap before, at peak (sampled every 50 ms) and after.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { upsertProduct } from '../src/app/catalog.js';
import { createCampaign, linkPost, openCampaign } from '../src/app/groupbuy.js';
import { loadConfig } from '../src/config/index.js';
import { startEmbeddedMongo } from '../src/db/embedded/index.js';
import { changesBody, commentChange, newCommentId, postSignedWebhook } from '../src/dev/webhook-payloads.js';
import { money } from '../src/domain/money.js';
import { silentLogger } from '../src/log.js';
import { startApp } from '../src/server.js';

const { values: args } = parseArgs({
  options: {
    comments: { type: 'string', default: process.env.BENCH_COMMENTS ?? '500' },
    batch: { type: 'string', default: process.env.BENCH_BATCH ?? '50' },
    latency: { type: 'string', default: process.env.BENCH_GRAPH_LATENCY_MS ?? '150' },
    interval: { type: 'string', default: process.env.BENCH_PUBLIC_INTERVAL_S ?? '30' },
    timeout: { type: 'string', default: process.env.BENCH_TIMEOUT_S ?? '300' },
  },
});
const COMMENTS = Number(args.comments);
const BATCH = Number(args.batch);
const LATENCY_MS = Number(args.latency);
const INTERVAL_S = Number(args.interval);
const TIMEOUT_MS = Number(args.timeout) * 1000;

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-comments-'));
  const mongo = await startEmbeddedMongo({ dbPath: dataDir, logger: silentLogger as never });
  const config = loadConfig({
    PORT: '0',
    MONGODB_URI: `${mongo.uri}/bench`,
    LOG_LEVEL: 'silent',
    COMMENTS_PUBLIC_REPLY_INTERVAL_S: String(INTERVAL_S),
  });
  const app = await startApp({ config, log: silentLogger });
  const fake = app.fakeGraph!;
  fake.setLatency(LATENCY_MS);
  const pageId = config.facebook.page.id;
  const ctx = { pageId, now: new Date(), config };

  await upsertProduct(
    { pageId },
    {
      sku: 'BENCH1',
      category: { slug: 'jeans', name: { it: 'Jeans', en: 'Jeans' } },
      title: { it: 'Jeans Bench', en: 'Bench jeans' },
      description: { it: 'Denim', en: 'Denim' },
      images: ['/static/demo/jeans.svg'],
      price: money(4990, 'EUR'),
      variants: ['S', 'M', 'L'].map((size) => ({
        sku: `BENCH1-${size}`,
        size,
        colour: 'Blu',
        stock: 1000,
        priceOverride: undefined,
      })),
      active: true,
      tags: [],
    },
  );
  const created = await createCampaign(ctx, {
    slug: 'BENCHGB',
    productSku: 'BENCH1',
    variantSku: null,
    minQuantity: 25,
    maxQuantity: null,
    deadline: new Date(Date.now() + 3 * 86_400_000),
    tiers: [{ fromQuantity: 0, unitPrice: 4990 }],
    perFanLimit: 3,
    texts: {
      it: { title: 'Jeans insieme', description: '' },
      en: { title: 'Jeans together', description: '' },
    },
  });
  if (!created.ok) throw new Error(JSON.stringify(created));
  await openCampaign(ctx, created.campaign.id);
  const postId = `${pageId}_900000000001`;
  await linkPost(ctx, created.campaign.id, { postId, message: 'Jeans insieme! #BENCHGB' });

  const words = [
    'io!',
    'voglio',
    'ci sto',
    'JOIN 2 M',
    'count me in',
    'quanto costa?',
    'ne voglio 2 taglia L',
    "I'm in",
  ];
  const now = Math.floor(Date.now() / 1000);
  const ids: string[] = [];
  const bodies = [];
  let changes = [];
  for (let i = 0; i < COMMENTS; i++) {
    const commentId = newCommentId(postId);
    const fromId = String(10_000_000 + i);
    ids.push(commentId);
    fake.noteComment(pageId, { commentId, postId, fromId, createdTime: new Date(now * 1000) });
    changes.push(
      commentChange({
        pageId,
        verb: 'add',
        commentId,
        postId,
        from: { id: fromId, name: `Fan ${i}` },
        message: words[i % words.length]!,
        createdTime: now,
      }),
    );
    if (changes.length === BATCH || i === COMMENTS - 1) {
      bodies.push(changesBody(pageId, ...changes));
      changes = [];
    }
  }

  global.gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 50);

  const webhookUrl = `${app.url}/api/messages`;
  const t0 = performance.now();
  const acks = await Promise.all(
    bodies.map((b) => postSignedWebhook(webhookUrl, b, config.facebook.appSecret)),
  );
  const ackMs = performance.now() - t0;
  if (acks.some((a) => a.status !== 200)) throw new Error('a webhook was not acknowledged with 200');

  const wanted = new Set(ids);
  const arrivals = new Map<string, number>();
  const deadline = t0 + TIMEOUT_MS;
  let seen = 0;
  while (arrivals.size < COMMENTS && performance.now() < deadline) {
    const msgs = fake.messages;
    for (; seen < msgs.length; seen++) {
      const id = msgs[seen]!.recipient.comment_id;
      if (id && wanted.has(id) && !arrivals.has(id)) arrivals.set(id, performance.now() - t0);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const lastPrivateMs = Math.max(...arrivals.values());
  await new Promise((r) => setTimeout(r, 500));
  clearInterval(sampler);
  const after = process.memoryUsage();
  const privateReplies = fake.messages.filter(
    (m) => m.recipient.comment_id && wanted.has(m.recipient.comment_id),
  );
  const publicReplies = fake.publicReplies.filter((r) => wanted.has(r.commentId));
  const sorted = [...arrivals.values()].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;

  const rows: [string, string][] = [
    ['comments (one post)', String(COMMENTS)],
    ['webhook POSTs × changes', `${bodies.length} × ${BATCH}`],
    ['fake Graph API latency', `${LATENCY_MS} ms`],
    ['all webhooks acknowledged after', s(ackMs)],
    ['private replies (distinct comments)', `${privateReplies.length} (${arrivals.size})`],
    ['time to median private reply', s(median)],
    ['time to last private reply', s(lastPrivateMs)],
    ['private replies per second', (arrivals.size / (lastPrivateMs / 1000)).toFixed(1)],
    [`public replies (≤ 1 per ${INTERVAL_S} s per post)`, String(publicReplies.length)],
    ['RSS before / peak / after', `${mb(before.rss)} / ${mb(peakRss)} / ${mb(after.rss)}`],
    ['heap before / peak / after', `${mb(before.heapUsed)} / ${mb(peakHeap)} / ${mb(after.heapUsed)}`],
    ['machine load (1 min)', os.loadavg()[0]!.toFixed(2)],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log('\nbench:comments — a burst on one post\n');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  const lost = COMMENTS - arrivals.size;
  const doubled = privateReplies.length - arrivals.size;
  console.log(`\n  ${lost === 0 && doubled === 0 ? 'OK' : 'FAIL'}: ${lost} lost, ${doubled} doubled\n`);

  await app.stop();
  await mongo.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(lost === 0 && doubled === 0 ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
