import { registerTippingEffects } from './app/tipping-hooks.js';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import express from 'express';
import { SIMULATOR_CREDENTIALS, withListeningPort, type Config } from './config/index.js';
import { connectDatabase, type DatabaseHandle } from './db/connection.js';
import { createFakeGraph, type FakeGraph } from './dev/fake-graph/index.js';
import { createSimulatorRouter } from './dev/simulator/index.js';
import { createDemoAssetsRouter } from './dev/demo-assets.js';
import { loadDemoDataIfEmpty } from './app/demo-data.js';
import { listPagePosts } from './app/groupbuy.js';
import { checkHealth } from './health.js';
import type { Logger } from './log.js';
import { createAdminRouter } from './admin/router.js';
import { createDashboardRouter } from './dashboard/router.js';
import { createBotEdge } from './messenger/botkit/edge.js';
import { apologyFor, createInboxHandler } from './messenger/event-handler.js';
import { commentOutcomeListener, createFeedHandler } from './comments/index.js';
import { FanRegistry } from './messenger/fans.js';
import { GraphClient } from './messenger/graph/client.js';
import { InboxProcessor } from './messenger/inbox/processor.js';
import { JobRunner, type JobRunnerOptions } from './jobs/runner.js';
import { createJobs } from './jobs/registry.js';
import { OutboxSender } from './messenger/outbox/sender.js';
import { BroadcastWorker, broadcastOutcomeListener } from './app/broadcasts.js';
import { pushMessengerProfile } from './messenger/profile.js';
import { createWebhookRouter } from './messenger/webhook/route.js';
import { privacyPage } from './privacy.js';
import { createPrivacyRouter } from './privacy/routes.js';
import { subjectResolverFor } from './privacy/subject-resolver.js';
import { createOrderPageRouter } from './shop/order-page.js';
import { createFlows } from '../flows/index.js';

export interface StartOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly now?: () => Date;
  /** A Graph API base URL that overrides the configuration (tests: a fake Graph API in its own server). */
  readonly graphUrl?: string;
  /** Tests that share one database connection across servers pass 'external'. */
  readonly database?: 'connect' | 'external';
  readonly processor?: { readonly pollMs?: number; readonly concurrency?: number };
  readonly sender?: { readonly pollMs?: number; readonly concurrency?: number };
  /** Scheduled jobs (worker role): tests may turn off the cron ticks or the catch-up at start. */
  readonly jobs?: Pick<JobRunnerOptions, 'schedule' | 'catchUp' | 'leaseMs'>;
}

export interface RunningApp {
  readonly url: string;
  readonly port: number;
  readonly fakeGraph: FakeGraph | undefined;
  readonly processor: InboxProcessor | undefined;
  readonly sender: OutboxSender | undefined;
  readonly jobs: JobRunner | undefined;
  stop(): Promise<void>;
}

/**
 * The composition root for both roles. `web` accepts webhooks and serves pages; `worker` processes the
 * inbox and sends the outbox; `all` (the default, and `npm start`) does both in one process.
 */
export async function startApp(opts: StartOptions): Promise<RunningApp> {
  const { log } = opts;
  let config = opts.config;
  const now = opts.now ?? (() => new Date());
  registerTippingEffects();
  const web = config.role === 'web' || config.role === 'all';
  const worker = config.role === 'worker' || config.role === 'all';

  const db: DatabaseHandle | undefined =
    opts.database === 'external' ? undefined : await connectDatabase(config, log);

  // A new user sees a working shop at once; a real Page's own catalogue is never touched.
  if (config.simulator && worker) {
    const demo = await loadDemoDataIfEmpty(config.facebook.page.id);
    if (demo.loaded)
      log.info({ products: demo.report?.created }, 'demo catalogue loaded (simulator mode, empty catalogue)');
  }

  const fakeGraph = config.simulator
    ? createFakeGraph({
        appSecret: config.facebook.appSecret,
        appId: config.facebook.appId ?? SIMULATOR_CREDENTIALS.appId,
        pages: [
          {
            id: config.facebook.page.id,
            name: config.facebook.page.name,
            accessToken: config.facebook.page.accessToken,
          },
        ],
        version: config.graph.version,
      })
    : undefined;

  let processor: InboxProcessor | undefined;
  let sender: OutboxSender | undefined;
  let jobs: JobRunner | undefined;
  let broadcasts: BroadcastWorker | undefined;

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  if (web) {
    app.use(
      '/api/messages',
      createWebhookRouter({
        appSecret: config.facebook.appSecret,
        verifyToken: config.facebook.verifyToken,
        maxBodyBytes: config.webhookMaxBodyBytes,
        log,
        now,
        onAccepted: () => processor?.wake(),
      }),
    );
    app.use('/admin', createAdminRouter({ config, log, clock: now }));
    app.use('/dashboard', createDashboardRouter({ config, log })); // managers' pages on the admin API
    app.get('/privacy', (req, res) => {
      res.type('html').send(privacyPage(req.query.lang === 'en' ? 'en' : config.defaultLocale, config));
    });
    // Meta's data deletion callback
    app.use(
      '/privacy',
      createPrivacyRouter({
        config: () => config,
        log,
        now,
        resolveSubject: () => subjectResolverFor(config, graph, log),
      }),
    );
    app.use(createOrderPageRouter({ config: () => config, log, now })); // a getter: the port is known after listen
  }
  app.get('/healthz', async (_req, res) => {
    const report = await checkHealth({
      role: config.role,
      simulator: config.simulator,
      pageId: config.facebook.page.id,
      senderPause: () => sender?.pauseReason,
    });
    res.status(report.status === 'down' ? 503 : 200).json(report);
  });
  if (fakeGraph) app.use('/fake-graph', fakeGraph.router);
  if (config.simulator) app.use(createDemoAssetsRouter());

  const server = http.createServer(app);
  // Meta waits 20 s at most; a slow client must not hold a socket for longer.
  server.requestTimeout = 20_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  config = withListeningPort(config, port);
  const url = `http://127.0.0.1:${port}`;

  if (fakeGraph && web) {
    app.use(
      '/simulator',
      createSimulatorRouter({
        config,
        fakeGraph,
        webhookUrl: `${url}/api/messages`,
        log,
        posts: () => listPagePosts({ pageId: config.facebook.page.id }),
      }),
    );
  }
  app.get('/', (_req, res) =>
    res.redirect(config.simulator ? '/simulator' : web ? '/dashboard/' : '/healthz'),
  );

  const graph = new GraphClient({
    baseUrl: opts.graphUrl ?? (fakeGraph ? `${url}/fake-graph` : config.graph.url),
    version: config.graph.version,
    appSecret: config.facebook.appSecret,
    log: log.child({ module: 'graph' }),
  });

  if (worker) {
    const fans = new FanRegistry({
      graph,
      page: config.facebook.page,
      defaultLocale: config.defaultLocale,
      log,
    });
    const edge = await createBotEdge({
      config,
      log,
      now,
      router: createFlows(),
      onHandlerError: (turn, error) => {
        turn.log.error({ err: error, input: turn.input.type }, 'flow failed; the fan gets an apology');
        turn.say(apologyFor(turn));
      },
    });
    sender = new OutboxSender({
      graph,
      page: config.facebook.page,
      log,
      now,
      ratePerSecond: config.sendRatePerSecond,
      maxAttempts: config.outboxMaxAttempts,
      retentionMs: config.retention.outboxMs,
      claimMs: config.leases.outboxClaimMs,
      echoGraceMs: config.leases.outboxEchoGraceMs,
      ...(opts.sender ?? {}),
    });
    processor = new InboxProcessor({
      handle: createInboxHandler({
        config,
        log,
        now,
        fans,
        edge,
        onQueued: () => sender?.wake(),
        onFeed: createFeedHandler({ config, log, now, onQueued: () => sender?.wake() }), // comments (src/comments)
      }),
      log,
      now,
      maxAttempts: config.inboxMaxAttempts,
      retentionMs: config.retention.inboxMs,
      leaseMs: config.leases.inboxMs,
      ...(opts.processor ?? {}),
    });
    processor.start();
    sender.start();
    // Scheduled jobs (src/jobs/registry.ts): leased, so one instance runs each tick.
    jobs = new JobRunner({
      jobs: createJobs({ sender }),
      config,
      graph,
      log,
      now,
      leaseMs: config.leases.jobMs,
      ...(opts.jobs ?? {}),
    });
    jobs.start();
    // Narrowcast: queues sending broadcasts behind the sender, counts their outcomes (src/app/broadcasts.ts).
    sender.addListener(broadcastOutcomeListener);
    sender.addListener(commentOutcomeListener); // private/public reply outcomes (10900/10903) on the comments
    broadcasts = new BroadcastWorker({
      pageId: config.facebook.page.id,
      log,
      now,
      wakeSender: () => sender?.wake(),
    });
    broadcasts.start();
  }

  if (config.simulator && worker) {
    await pushMessengerProfile(graph, config).catch((error: unknown) =>
      log.warn({ err: error }, 'could not push the Messenger profile to the fake Graph API'),
    );
  }

  if (config.simulator) {
    log.warn(
      `SIMULATOR MODE: no Facebook credentials set. The Graph API is faked at ${url}/fake-graph; chat as a fan at ${url}/simulator`,
    );
  }
  log.info(
    { url, role: config.role, graphVersion: config.graph.version, instance: randomUUID().slice(0, 8) },
    'bot started',
  );

  let stopped = false;
  return {
    url,
    port,
    fakeGraph,
    processor,
    sender,
    jobs,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Stop taking webhooks first, then let in-flight turns and sends finish and release their leases.
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await jobs?.stop();
      await processor?.stop();
      await broadcasts?.stop();
      await sender?.stop();
      graph.close();
      await closing;
      await db?.close();
    },
  };
}
