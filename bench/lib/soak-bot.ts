/**
 * Soak child: our bot as `npm start` runs it against a real (here: fake) Facebook configuration —
 * both roles, embedded database journalled with fsync in its DATA_DIR, default processor, sender and
 * jobs — plus the demo catalogue, group buys and their linked Page posts, loaded through the same code
 * as simulator mode so fans have something real to browse, add to a cart, join and comment under.
 *
 * Serves the parent over IPC (bench/lib/child.ts): `extra('sample')` answers this process's V8 heap
 * (main isolate only: the embedded server's own thread has its own heap, visible in RSS) and the
 * number of documents per collection; `extra('setup')` answers the demo posts and campaigns.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import mongoose from 'mongoose';
import { loadDemoDataIfEmpty } from '../../src/app/demo-data.js';
import { loadConfig } from '../../src/config/index.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { PagePostModel } from '../../src/db/models/page-post.js';
import { createLogger } from '../../src/log.js';
import { startApp, type RunningApp } from '../../src/server.js';
import { serveBench } from './child.js';

export interface SoakSetup {
  /** Demo Page posts linked to a group buy (or product): where fans comment. */
  readonly posts: { readonly postId: string; readonly message: string }[];
  readonly campaigns: { readonly id: string; readonly slug: string }[];
}

export interface SoakChildSample {
  readonly heapUsed: number;
  /**
   * Lowest and highest heapUsed seen since the previous sample (read every 250 ms): the lowest is
   * close to the live heap after a collection, without forcing one (a forced full GC would pause
   * the bot and show in the ack latency).
   */
  readonly heapUsedMin: number;
  readonly heapUsedMax: number;
  /**
   * heapUsed read right after the latest full (mark-compact) collection, and how many there have
   * been: the live heap, the leak signal. V8 collects fully only when it wants to, so a window may
   * have none (then this is the previous one's reading).
   */
  readonly heapAfterMajorGc: number;
  readonly majorGcs: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Documents per collection (estimated count: the collection's size, no scan). */
  readonly documents: Record<string, number>;
}

export interface PendingQueues {
  /** Distinct inbox queues holding pending events, and the fullest ones. */
  readonly queues: number;
  readonly top: { readonly queueKey: string; readonly pending: number }[];
}

let app: RunningApp | undefined;
let pageId = '';
let heapMin = Number.POSITIVE_INFINITY;
let heapMax = 0;
let heapAfterMajorGc = Number.NaN;
let majorGcs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const detail = (entry as unknown as { detail?: { kind?: number } }).detail;
    if (detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
    majorGcs++;
    heapAfterMajorGc = process.memoryUsage().heapUsed;
  }
}).observe({ entryTypes: ['gc'] });
setInterval(() => {
  const used = process.memoryUsage().heapUsed;
  heapMin = Math.min(heapMin, used);
  heapMax = Math.max(heapMax, used);
}, 250).unref();

async function documentCounts(): Promise<Record<string, number>> {
  const db = mongoose.connection.db;
  if (!db) return {};
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  const out: Record<string, number> = {};
  for (const name of names) out[name] = await db.collection(name).estimatedDocumentCount();
  return out;
}

serveBench({
  async start() {
    const config = loadConfig(process.env);
    const log = createLogger(config.logLevel);
    app = await startApp({ config, log, graphUrl: config.graph.url });
    pageId = config.facebook.page.id;
    const demo = await loadDemoDataIfEmpty(pageId);
    return {
      url: app.url,
      info: {
        pid: process.pid,
        demoLoaded: demo.loaded,
        sendRatePerSecond: config.sendRatePerSecond,
        dataDir: config.dataDir,
        logLevel: config.logLevel,
      },
    };
  },
  async stop() {
    await app?.stop();
  },
  async extra(arg: unknown): Promise<SoakSetup | SoakChildSample | PendingQueues> {
    if (arg === 'pending-queues') {
      // Where a backlog sits: the inbox queues (one per fan, one per post) with the most pending events.
      const rows = await InboxEventModel.collection
        .aggregate<{ _id: string; n: number }>([
          { $match: { state: 'pending' } },
          { $group: { _id: '$queueKey', n: { $sum: 1 } } },
          { $sort: { n: -1 } },
        ])
        .toArray();
      return {
        queues: rows.length,
        top: rows.slice(0, 5).map((r) => ({ queueKey: String(r._id), pending: r.n })),
      };
    }
    if (arg === 'setup') {
      const posts = await PagePostModel.collection
        .find({ pageId: String(pageId), link: { $ne: null } }, { projection: { postId: 1, message: 1 } })
        .toArray();
      const campaigns = await CampaignModel.collection
        .find({ pageId: String(pageId) }, { projection: { slug: 1 } })
        .toArray();
      return {
        posts: posts.map((p) => ({ postId: String(p.postId), message: String(p.message ?? '') })),
        campaigns: campaigns.map((c) => ({ id: String(c._id), slug: String(c.slug) })),
      };
    }
    const m = process.memoryUsage();
    const window = { min: Math.min(heapMin, m.heapUsed), max: Math.max(heapMax, m.heapUsed) };
    heapMin = Number.POSITIVE_INFINITY;
    heapMax = 0;
    return {
      heapUsed: m.heapUsed,
      heapUsedMin: window.min,
      heapUsedMax: window.max,
      heapAfterMajorGc,
      majorGcs,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      documents: await documentCounts(),
    };
  },
});
