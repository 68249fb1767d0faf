import { expect } from 'chai';
import { JobRunModel } from '../../src/db/models/job-run.js';
import { LeaseModel } from '../../src/db/models/lease.js';
import { JobRunner, cronPeriodMs, type RunReport } from '../../src/jobs/runner.js';
import type { JobDefinition } from '../../src/jobs/types.js';
import { silentLogger } from '../../src/log.js';
import { useTestDatabase } from '../unit/platform/mongo.js';
import { sleep, startGraphFixture, type GraphFixture } from './helpers.js';

describe('JobRunner (leased node-cron jobs, driven by state)', function () {
  const db = useTestDatabase();
  let fx: GraphFixture;
  const runners: JobRunner[] = [];

  before(async () => {
    fx = await startGraphFixture();
  });
  after(async () => {
    await fx.close();
  });
  beforeEach(() => db.clear());
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
  });

  function counterJob(id: string, schedule: string, opts: { ms?: number; fail?: boolean } = {}) {
    const runs: Date[] = [];
    const job: JobDefinition = {
      id,
      schedule,
      description: 'test job',
      async run(ctx) {
        runs.push(ctx.now);
        if (opts.ms) await sleep(opts.ms);
        if (opts.fail) throw new Error('boom: the job broke');
        return { summary: { n: runs.length } };
      },
    };
    return { job, runs };
  }

  function runner(jobs: JobDefinition[], extra: { now?: () => Date; leaseMs?: number } = {}): JobRunner {
    const r = new JobRunner({
      jobs,
      config: fx.config,
      graph: fx.graph,
      log: silentLogger,
      schedule: false,
      catchUp: false,
      ...extra,
    });
    runners.push(r);
    return r;
  }

  it('refuses bad cron expressions, bad ids and duplicate ids', () => {
    const { job } = counterJob('ok-job', '*/5 * * * *');
    expect(() => runner([{ ...job, schedule: 'every day' }])).to.throw(/not a valid cron/);
    expect(() => runner([{ ...job, id: 'Bad Id' }])).to.throw(/kebab-case/);
    expect(() => runner([job, job])).to.throw(/registered twice/);
  });

  it('knows the period of a schedule', () => {
    expect(cronPeriodMs('*/5 * * * *')).to.equal(5 * 60_000);
    expect(cronPeriodMs('17 4 * * *')).to.equal(86_400_000);
    expect(cronPeriodMs('0 9 * * 1-5')).to.equal(3 * 86_400_000);
  });

  it('two runners on one database: each tick runs exactly once, at the same time or one after the other', async () => {
    const { job, runs } = counterJob('shared-job', '*/5 * * * *', { ms: 30 });
    const a = runner([job]);
    const b = runner([job]);
    const slots = [0, 1, 2].map((i) => new Date(Date.UTC(2026, 0, 1, 10, 5 * i)));
    // Simultaneous ticks: one takes the lease, the other is turned away.
    for (const slot of slots) {
      const reports = await Promise.all([a.tick('shared-job', slot), b.tick('shared-job', slot)]);
      expect(reports.filter((r) => r.status === 'ran')).to.have.length(1);
    }
    // A late tick of an instance whose clock lags: the lease is free again, the slot is not.
    const late: RunReport = await b.tick('shared-job', new Date(slots[0]!.getTime() + 400));
    expect(late).to.deep.include({ status: 'skipped', reason: 'already-run' });
    expect(runs).to.have.length(3);
    const recorded = await JobRunModel.find({ jobId: 'shared-job' }).lean();
    expect(recorded.map((r) => r.outcome)).to.deep.equal(['ok', 'ok', 'ok']);
    expect(new Set(recorded.map((r) => r.slot)).size).to.equal(3);
    expect(await LeaseModel.countDocuments({ _id: 'job:shared-job' })).to.equal(0);
  });

  it('on real cron ticks (every second), two scheduled runners run each tick once', async function () {
    this.timeout(15_000);
    const { job, runs } = counterJob('every-second', '* * * * * *', { ms: 20 });
    for (let i = 0; i < 2; i += 1) {
      const r = new JobRunner({
        jobs: [job],
        config: fx.config,
        graph: fx.graph,
        log: silentLogger,
        catchUp: false,
      });
      runners.push(r);
      r.start();
    }
    await sleep(3_300);
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    const recorded = await JobRunModel.find({ jobId: 'every-second' }).lean();
    expect(recorded.length).to.be.at.least(2);
    expect(runs).to.have.length(recorded.length);
    expect(new Set(recorded.map((r) => r.slot)).size).to.equal(recorded.length);
    expect(recorded.every((r) => r.outcome === 'ok')).to.equal(true);
  });

  it('catches up once after downtime, even with two instances starting together', async () => {
    const { job: daily, runs: dailyRuns } = counterJob('daily-job', '17 4 * * *', { ms: 20 });
    const { job: fresh, runs: freshRuns } = counterJob('fresh-job', '17 4 * * *');
    const { job: never, runs: neverRuns } = counterJob('never-run-job', '*/5 * * * *');
    const now = Date.now();
    await JobRunModel.collection.insertMany([
      {
        jobId: 'daily-job',
        slot: 'tick:old',
        reason: 'scheduled',
        holder: 'gone',
        outcome: 'ok',
        startedAt: new Date(now - 3 * 86_400_000),
        finishedAt: new Date(now - 3 * 86_400_000),
      },
      {
        jobId: 'fresh-job',
        slot: 'tick:recent',
        reason: 'scheduled',
        holder: 'gone',
        outcome: 'ok',
        startedAt: new Date(now - 3_600_000),
        finishedAt: new Date(now - 3_600_000),
      },
    ] as never[]);
    const a = runner([daily, fresh, never]);
    const b = runner([daily, fresh, never]);
    await Promise.all([a.catchUp(), b.catchUp()]);
    expect(dailyRuns).to.have.length(1);
    expect(neverRuns).to.have.length(1);
    expect(freshRuns).to.have.length(0);
    // Started again: nothing is due any more.
    await Promise.all([a.catchUp(), b.catchUp()]);
    expect(dailyRuns).to.have.length(1);
    expect(neverRuns).to.have.length(1);
    const catchUps = await JobRunModel.find({ reason: 'catch-up' }).lean();
    expect(catchUps.map((r) => r.jobId).sort()).to.deep.equal(['daily-job', 'never-run-job']);
  });

  it('records a failing job with its error; the last success stays the previous one', async () => {
    const { job } = counterJob('failing-job', '*/5 * * * *', { fail: true });
    const r = runner([job]);
    const report = await r.runNow('failing-job');
    expect(report).to.include({ status: 'ran', outcome: 'failed' });
    const [run] = await JobRunModel.find({ jobId: 'failing-job' }).lean();
    expect(run?.outcome).to.equal('failed');
    expect(run?.error).to.match(/boom: the job broke/);
    expect(run?.finishedAt).to.be.instanceOf(Date);
    expect(await r.lastSuccess('failing-job')).to.equal(undefined);
    // Never succeeded: a restart tries it again.
    const again = await r.catchUp();
    expect(again).to.have.length(1);
  });

  it('marks the unfinished run of a vanished instance abandoned when the lease is next taken', async () => {
    const { job } = counterJob('crashy-job', '*/5 * * * *');
    await JobRunModel.collection.insertOne({
      jobId: 'crashy-job',
      slot: 'tick:2026-01-01T00:00:00.000Z',
      reason: 'scheduled',
      holder: 'dead-instance',
      outcome: 'running',
      startedAt: new Date(Date.now() - 3_600_000),
    } as never);
    await runner([job]).runNow('crashy-job');
    const runs = await JobRunModel.find({ jobId: 'crashy-job' }).sort({ startedAt: 1 }).lean();
    expect(runs.map((x) => x.outcome)).to.deep.equal(['abandoned', 'ok']);
  });

  it('a run in progress keeps its lease renewed; a second runNow is turned away', async () => {
    const { job } = counterJob('slow-job', '*/5 * * * *', { ms: 400 });
    const a = runner([job], { leaseMs: 150 });
    const b = runner([job], { leaseMs: 150 });
    const first = a.runNow('slow-job');
    await sleep(250); // past the first TTL: only renewal keeps the lease
    expect(await b.runNow('slow-job')).to.deep.include({ status: 'skipped', reason: 'busy' });
    expect(await first).to.include({ status: 'ran', outcome: 'ok' });
  });

  it('stop() aborts the signal, waits for the running job, records it and releases the lease', async () => {
    let sawAbort = false;
    const job: JobDefinition = {
      id: 'long-job',
      schedule: '*/5 * * * *',
      description: 'waits for shutdown',
      async run(ctx) {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        sawAbort = true;
        return { summary: { stoppedEarly: true } };
      },
    };
    const r = runner([job]);
    const run = r.runNow('long-job');
    await sleep(100);
    await r.stop();
    expect(sawAbort).to.equal(true);
    expect(await run).to.include({ status: 'ran', outcome: 'ok' });
    expect(await LeaseModel.countDocuments({ _id: 'job:long-job' })).to.equal(0);
    expect(await r.runNow('long-job')).to.deep.include({ status: 'skipped', reason: 'stopped' });
  });
});
