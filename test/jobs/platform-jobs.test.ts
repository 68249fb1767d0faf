import { expect } from 'chai';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { PageHealthModel } from '../../src/db/models/page-health.js';
import { checkHealth } from '../../src/health.js';
import { createJobs } from '../../src/jobs/registry.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { enqueueMessages } from '../../src/messenger/outbox/enqueue.js';
import { useTestDatabase } from '../unit/platform/mongo.js';
import { capturingLogger, startGraphFixture, type CapturingLogger, type GraphFixture } from './helpers.js';

const HOUR = 3_600_000;

describe('platform jobs: inbox janitor, outbox janitor, token health', function () {
  const db = useTestDatabase();
  let fx: GraphFixture;
  let logs: CapturingLogger;
  let runner: JobRunner;
  const probes: string[] = [];
  const sender = {
    pauseReason: undefined as string | undefined,
    probeToken: async () => {
      probes.push('probe');
      return true;
    },
  };

  before(async () => {
    fx = await startGraphFixture();
  });
  after(async () => {
    await fx.close();
  });
  beforeEach(async () => {
    await db.clear();
    fx.fakeGraph.reset();
    probes.length = 0;
    sender.pauseReason = undefined;
    logs = capturingLogger();
    runner = new JobRunner({
      jobs: createJobs({ sender }),
      config: fx.config,
      graph: fx.graph,
      log: logs.log,
      schedule: false,
      catchUp: false,
    });
  });
  afterEach(() => runner.stop());

  const pageId = () => fx.config.facebook.page.id;

  it('registers the platform jobs with valid schedules', () => {
    expect(runner.jobIds).to.include.members([
      'inbox-janitor',
      'outbox-janitor',
      'token-health',
      'privacy-deletions',
    ]);
  });

  it('outbox janitor cancels replies and promotions pending for more than 24 h, and nothing else', async () => {
    const old = new Date(Date.now() - 25 * HOUR);
    const item = (key: string, purpose: 'reply' | 'promotion' | 'order_update') => ({
      pageId: pageId(),
      idempotencyKey: key,
      kind: 'message' as const,
      recipient: { psid: '3000000000000001' },
      purpose,
      body: { text: key },
    });
    await enqueueMessages(
      [item('old-reply', 'reply'), item('old-promo', 'promotion'), item('old-order', 'order_update')],
      old,
    );
    await enqueueMessages([item('new-reply', 'reply')], new Date());
    const report = await runner.runNow('outbox-janitor');
    expect(report).to.deep.include({ status: 'ran', outcome: 'ok' });
    expect(report.status === 'ran' && report.summary).to.deep.include({
      cancelled: 2,
      cancelledReplies: 1,
      cancelledPromotions: 1,
    });
    const docs = await OutboxMessageModel.collection.find({}).toArray();
    const byKey = Object.fromEntries(docs.map((d) => [d.idempotencyKey, d]));
    expect(byKey['old-reply']).to.deep.include({ state: 'cancelled', cancelledReason: 'stale' });
    expect(byKey['old-promo']).to.deep.include({ state: 'cancelled', cancelledReason: 'stale' });
    expect(byKey['old-reply']!.expiresAt).to.be.instanceOf(Date);
    expect(byKey['old-order']!.state).to.equal('pending');
    expect(byKey['new-reply']!.state).to.equal('pending');
    expect(logs.lines.some((l) => l.msg === 'stale outbox messages cancelled')).to.equal(true);
  });

  it('inbox janitor counts the backlog and warns when the oldest pending event waits more than 5 minutes', async () => {
    const base = {
      pageId: pageId(),
      kind: 'message',
      queueKey: 'fan:1',
      payload: '{}',
      eventTime: new Date(),
      nextAttemptAt: new Date(),
    };
    await InboxEventModel.collection.insertMany([
      {
        ...base,
        dedupeKey: 'a',
        state: 'pending',
        attempts: 0,
        receivedAt: new Date(Date.now() - 10 * 60_000),
      },
      { ...base, dedupeKey: 'b', state: 'pending', attempts: 2, receivedAt: new Date() },
      {
        ...base,
        dedupeKey: 'c',
        state: 'parked',
        attempts: 8,
        receivedAt: new Date(Date.now() - 30 * 86_400_000),
      },
    ] as never[]);
    const report = await runner.runNow('inbox-janitor');
    expect(report.status === 'ran' && report.summary).to.deep.include({ pending: 2, retrying: 1, parked: 1 });
    const warning = logs.lines.find((l) => l.alert === 'inbox_backlog');
    expect(warning?.level).to.equal(40);
    // Nothing was deleted or changed.
    expect(await InboxEventModel.countDocuments({})).to.equal(3);
    expect(await InboxEventModel.countDocuments({ state: 'parked' })).to.equal(1);
  });

  it('inbox janitor stays quiet when the backlog is fresh', async () => {
    await runner.runNow('inbox-janitor');
    expect(logs.lines.some((l) => l.alert === 'inbox_backlog')).to.equal(false);
  });

  it('token health records a valid token, then marks the page unhealthy and alerts when the token is revoked', async () => {
    const ok = await runner.runNow('token-health');
    expect(ok).to.deep.include({ status: 'ran', outcome: 'ok' });
    let doc = await PageHealthModel.findOne({ pageId: pageId() }).lean();
    expect(doc?.token?.status).to.equal('valid');
    expect(logs.lines.some((l) => l.alert === 'page_token')).to.equal(false);

    fx.fakeGraph.revokeToken(fx.config.facebook.page.accessToken);
    const bad = await runner.runNow('token-health');
    expect(bad).to.deep.include({ status: 'ran', outcome: 'ok' });
    doc = await PageHealthModel.findOne({ pageId: pageId() }).lean();
    expect(doc?.token?.status).to.equal('invalid');
    expect(doc?.token?.error?.code).to.equal(190);
    expect(doc?.token?.unhealthySince).to.be.instanceOf(Date);
    const alert = logs.lines.find((l) => l.alert === 'page_token');
    expect(alert?.level).to.equal(60); // fatal
    expect(String(alert?.msg)).to.match(/ALERT/);
    expect(JSON.stringify(logs.lines)).to.not.contain(fx.config.facebook.page.accessToken);

    const health = await checkHealth({ role: 'all', simulator: true, pageId: pageId() });
    expect(health.status).to.equal('degraded');
    expect(health.pageToken?.status).to.equal('invalid');
  });

  it('token health flags a token that expires within 7 days', async () => {
    const original = fx.graph.debugToken.bind(fx.graph);
    fx.graph.debugToken = async (input, access) => ({
      ...(await original(input, access)),
      expiresAt: new Date(Date.now() + 3 * 86_400_000),
    });
    try {
      await runner.runNow('token-health');
    } finally {
      fx.graph.debugToken = original;
    }
    const doc = await PageHealthModel.findOne({ pageId: pageId() }).lean();
    expect(doc?.token?.status).to.equal('expiring');
    expect(logs.lines.find((l) => l.alert === 'page_token')?.status).to.equal('expiring');
  });

  it('token health asks a sender paused by a 190 to probe the token once it works again', async () => {
    sender.pauseReason = 'page access token invalid (190)';
    const report = await runner.runNow('token-health');
    expect(probes).to.have.length(1);
    expect(report.status === 'ran' && report.summary?.senderResumed).to.equal(true);
  });
});
