/**
 * Fault: the database goes away mid-traffic and comes back. The embedded server (with a data
 * directory) lives in this test process and is stopped while signed webhooks keep arriving, then
 * started again on the same port and directory; the bot is a child process that is never restarted.
 *
 * Meta's side is played honestly: every event is POSTed until it gets a 200, like Meta's retries, and
 * a 200 means "stored". What must hold: webhooks answer 503 within a bounded time while the database
 * is away (Meta times webhooks out), `/healthz` says so, everything acknowledged is answered exactly
 * once after the database is back, and the process neither crashes nor leaks a rejection.
 *
 * FAULTS_LONG=1: a one-minute outage instead of a few seconds.
 */
import { expect } from 'chai';
import type { BotProcess } from '../support/child-bot.js';
import { waitFor } from '../support/app.js';
import type { WebhookBody } from '../../src/dev/webhook-payloads.js';
import {
  duplicateSends,
  FIRST_MESSAGE_BURST,
  health,
  LONG,
  sleep,
  startFaultRig,
  watchLog,
  type FaultRig,
} from './helpers.js';

const OUTAGE_MS = LONG ? 60_000 : 12_000;
const EVENTS_PER_SECOND = 10;
/** Meta gives up on a webhook call after about 20 s; answering long before that is the point. */
const WEBHOOK_ANSWER_BOUND_MS = 8_000;

interface Tracked {
  psid: string;
  body: WebhookBody;
  statuses: number[];
  acked: boolean;
  posting: boolean;
}

describe('fault: the database goes away mid-traffic', function () {
  this.timeout(LONG ? 300_000 : 90_000);
  let rig: FaultRig;
  let bot: BotProcess;

  before(async () => {
    rig = await startFaultRig('dbaway');
    bot = await rig.startBot();
  });

  after(async () => {
    await rig?.close();
  });

  it('answers 503 while it is away, then processes every acknowledged event exactly once', async () => {
    const log = watchLog(bot);
    const events: Tracked[] = [];
    const answerMs: { status: number; ms: number; during: boolean; at: number }[] = [];
    let outage = false;
    let stopTraffic = false;

    const deliver = async (e: Tracked) => {
      const during = outage;
      const at = Date.now();
      e.posting = true;
      const res = await rig.post(bot, e.body);
      e.posting = false;
      answerMs.push({ status: res.status, ms: res.ms, during, at });
      e.statuses.push(res.status);
      if (res.status === 200) e.acked = true;
    };
    // New fans, one first message each, at a steady rate; a refused event is POSTed again a second
    // later with the same body (same mid), as Meta does.
    let n = 0;
    const inFlight = new Set<Promise<void>>();
    const traffic = (async () => {
      while (!stopTraffic) {
        const psid = `24${String(++n).padStart(13, '0')}`;
        const e: Tracked = {
          psid,
          body: rig.messageBody(psid, 'ciao'),
          statuses: [],
          acked: false,
          posting: false,
        };
        events.push(e);
        const p = deliver(e).finally(() => inFlight.delete(p));
        inFlight.add(p);
        await sleep(1000 / EVENTS_PER_SECOND);
      }
    })();
    const redelivery = (async () => {
      while (!stopTraffic || events.some((e) => !e.acked)) {
        await sleep(1000);
        const due = events.filter((e) => !e.acked && !e.posting && e.statuses.length > 0);
        for (const e of due) {
          const p = deliver(e).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
      }
    })();

    await sleep(3000);
    const sentBefore = events.length;
    outage = true;
    const stoppedAt = Date.now();
    await rig.stopDatabase();

    // While it is away: /healthz reports it, and webhooks keep answering (503), never hanging.
    await sleep(Math.min(2000, OUTAGE_MS / 3));
    const healthDown = await health(bot, 15_000);
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
    const sentDuring = events.length - sentBefore;

    await rig.startDatabase();
    outage = false;
    const restartedAt = Date.now();
    // Accepted again without restarting the bot.
    const firstOk = await waitFor(
      () => answerMs.find((a) => a.at >= restartedAt && a.status === 200),
      30_000,
    );
    const firstOkAfter = firstOk.at + firstOk.ms - restartedAt;
    await sleep(3000);
    stopTraffic = true;
    await traffic;
    await waitFor(() => events.every((e) => e.acked), 60_000);
    await redelivery;
    await Promise.all([...inFlight]);

    // Every acknowledged event gets its full answer, once.
    const expected = events.length * FIRST_MESSAGE_BURST;
    try {
      await waitFor(() => rig.fake.messages.length >= expected, LONG ? 180_000 : 45_000);
    } catch (error) {
      const db = rig.db();
      for (const e of events.filter((x) => rig.fake.messagesTo(x.psid).length < FIRST_MESSAGE_BURST)) {
        const stored = await db
          .collection('inbox')
          .find({ queueKey: `fan:${e.psid}` })
          .toArray();
        const sends = await db.collection('outbox').find({ 'recipient.psid': e.psid }).toArray();
        console.log(
          `      ${e.psid}: webhook ${e.statuses.join(',')}; sent ${rig.fake.messagesTo(e.psid).length}; ` +
            `inbox ${JSON.stringify(stored.map((x) => [x.state, x.attempts, x.lastError]))}; ` +
            `outbox ${JSON.stringify(sends.map((x) => [x.seq, x.state, x.attempts, x.leaseUntil, x.nextAttemptAt, x.body]))}`,
        );
        if (process.env.FAULTS_DEBUG)
          console.log(
            bot
              .output()
              .split('\n')
              .filter((l) => l.includes(e.psid))
              .join('\n')
              .slice(0, 3000),
          );
      }
      const leases = await db.collection('leases').find().toArray();
      console.log(`      leases ${JSON.stringify(leases)} at ${new Date().toISOString()}`);
      console.log(`      error-level log lines: ${JSON.stringify(log.entries.slice(0, 30))}`);
      throw error;
    }
    await sleep(1500);
    const healthUp = await waitFor(async () => {
      const h = await health(bot);
      return h.status === 200 && h;
    }, 20_000);

    const db = rig.db();
    const inbox = await db.collection('inbox').find({ kind: 'message' }).toArray();
    const outboxNotSent = await db.collection('outbox').countDocuments({ state: { $ne: 'sent' } });
    const duplicates = duplicateSends(rig.fake.messages);
    const short = events.filter((e) => rig.fake.messagesTo(e.psid).length !== FIRST_MESSAGE_BURST);
    const during = answerMs.filter((a) => a.during);
    const refused = events.filter((e) => e.statuses.some((s) => s !== 200));
    const unhandled = log.entries.filter((e) => /unhandled/i.test(e.msg));
    const maxAttempts = Math.max(...inbox.map((e) => Number(e.attempts)));

    console.log(
      `      database-away figures: outage ${OUTAGE_MS} ms; events ${events.length} (before ${sentBefore}, during ${sentDuring}); ` +
        `POSTs ${answerMs.length}: 200 ${answerMs.filter((a) => a.status === 200).length}, ` +
        `503 ${answerMs.filter((a) => a.status === 503).length}, other ${answerMs.filter((a) => a.status !== 200 && a.status !== 503).length}; ` +
        `events refused at least once ${refused.length}; slowest answer during the outage ${Math.round(Math.max(0, ...during.map((a) => a.ms)))} ms; ` +
        `/healthz while away ${healthDown.status} in ${Math.round(healthDown.ms)} ms; first 200 after restart ${firstOkAfter} ms; ` +
        `inbox done ${inbox.filter((e) => e.state === 'done').length}/${inbox.length} (max attempts ${maxAttempts}); ` +
        `messages ${rig.fake.messages.length} for ${expected} expected, duplicates ${duplicates}; error log lines ${log.entries.length}`,
    );

    const byMsg = new Map<string, number>();
    for (const e of log.entries) byMsg.set(e.msg, (byMsg.get(e.msg) ?? 0) + 1);
    console.log(`      error-level log lines: ${JSON.stringify(Object.fromEntries(byMsg))}`);

    expect(bot.child.exitCode, 'the bot process is alive').to.equal(null);
    expect(
      unhandled.map((e) => e.msg),
      'unhandled rejections',
    ).to.deep.equal([]);
    expect(refused.length, 'some webhooks were refused while the database was away').to.be.greaterThan(0);
    expect(during.filter((a) => a.status === 0).length, 'webhook calls left without an answer').to.equal(0);
    expect(
      during.filter((a) => a.ms > WEBHOOK_ANSWER_BOUND_MS).length,
      `webhook answers slower than ${WEBHOOK_ANSWER_BOUND_MS} ms while the database was away`,
    ).to.equal(0);
    expect(answerMs.every((a) => a.status === 200 || a.status === 503)).to.equal(true);
    expect(healthDown.status, '/healthz while the database is away').to.equal(503);
    expect(healthDown.body.database).to.equal('down');
    expect(healthUp.body.database).to.equal('up');
    expect(healthUp.body.status, 'nothing parked, sender not paused').to.equal('ok');

    // Exactly once: one stored event per fan, done; its three answers sent once each.
    expect(inbox.length).to.equal(events.length);
    expect(inbox.filter((e) => e.state !== 'done').map((e) => e.queueKey)).to.deep.equal([]);
    expect(short.map((e) => [e.psid, rig.fake.messagesTo(e.psid).length])).to.deep.equal([]);
    expect(duplicates, 'messages sent twice').to.equal(0);
    expect(rig.fake.messages.length).to.equal(expected);
    expect(outboxNotSent).to.equal(0);
  });
});
