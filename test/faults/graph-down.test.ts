/**
 * Fault: the Graph API is down for a sustained period, then returns. First nothing listens at all
 * (connection refused), then every call is answered HTTP 500 (code 2, transient); meanwhile fans keep
 * writing, so the backlog grows. The bot is a child process; the fake Graph API lives in this test.
 *
 * What must hold: the outbox backs off (the calls it makes during the outage are counted and bounded:
 * no hot loop), `/healthz` shows the backlog, nothing is given up on, and once the API is back every
 * message is delivered exactly once and, per fan, in the order it was written.
 *
 * FAULTS_LONG=1: minutes of outage (refused 2 min, then 5xx 3 min) and more fans.
 */
import { expect } from 'chai';
import type { BotProcess } from '../support/child-bot.js';
import { waitFor } from '../support/app.js';
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

const REFUSED_MS = LONG ? 120_000 : 12_000;
const FIVE_XX_MS = LONG ? 180_000 : 12_000;
const FANS = LONG ? 100 : 30;

const isSend = (path: string) => /\/messages$/.test(path);

describe('fault: the Graph API is down for a sustained period', function () {
  this.timeout(LONG ? 900_000 : 120_000);
  let rig: FaultRig;
  let bot: BotProcess;

  before(async () => {
    rig = await startFaultRig('graphdown');
    bot = await rig.startBot();
  });

  after(async () => {
    await rig?.close();
  });

  it('backs off during the outage, then delivers every message exactly once and in order', async () => {
    const log = watchLog(bot);
    const fans = Array.from({ length: FANS }, (_, i) => `25${String(i + 1).padStart(13, '0')}`);
    const say = async (psid: string, text: string) => {
      const res = await rig.post(bot, rig.messageBody(psid, text));
      expect(res.status, `webhook for ${psid}`).to.equal(200);
    };

    // A third of the fans talk while the API works: their greetings go out at once.
    const early = fans.slice(0, FANS / 3);
    await Promise.all(early.map((psid) => say(psid, 'ciao')));
    await waitFor(() => rig.fake.messages.length >= early.length * FIRST_MESSAGE_BURST, 30_000);

    // Refused phase: nothing listens on the API's port; everyone writes, replies pile up. The
    // fake sees nothing now: the bot's Graph client logs each call that got no answer.
    const sendsRefused = () => log.counts.get('graph api call failed (network):messages') ?? 0;
    await rig.graph.refuseConnections();
    const outageStartedAt = new Date();
    await Promise.all(fans.map((psid) => say(psid, early.includes(psid) ? 'menu' : 'ciao')));
    await sleep(REFUSED_MS / 2);
    const healthRefused = await health(bot);
    await sleep(REFUSED_MS / 2);
    const refusedAttempts = sendsRefused();

    // 5xx phase: the API listens again but answers 500 to everything; a few fans write again.
    rig.fake.setOutage(true);
    await rig.graph.acceptConnections();
    const callsBefore = rig.fake.calls.length;
    await Promise.all(fans.slice(0, 5).map((psid) => say(psid, 'aiuto')));
    await sleep(FIVE_XX_MS / 2);
    const healthDuring = await health(bot);
    await sleep(FIVE_XX_MS / 2);
    const fiveXxCalls = rig.fake.calls.slice(callsBefore).filter((c) => isSend(c.path));
    const sentDuringOutage = rig.fake.messages.filter((m) => m.at >= outageStartedAt).length;

    // Back: the backlog drains.
    rig.fake.setOutage(false);
    const backAt = Date.now();
    const db = rig.db();
    const outbox = db.collection('outbox');
    await waitFor(
      async () => (await outbox.countDocuments({ state: 'pending' })) === 0,
      LONG ? 300_000 : 60_000,
    );
    const drainedMs = Date.now() - backAt;
    await sleep(1000);

    const records = await outbox.find({}).toArray();
    const byId = new Map(records.map((r) => [String(r._id), r]));
    const notSent = records.filter((r) => r.state !== 'sent');
    const duplicates = duplicateSends(rig.fake.messages);
    const unknown = rig.fake.messages.filter((m) => !byId.has((m.metadata ?? '').slice(3)));
    // Per fan, Meta received the messages in the order they were written (outbox seq).
    const outOfOrder = fans.filter((psid) => {
      const seqs = rig.fake.messagesTo(psid).map((m) => Number(byId.get((m.metadata ?? '').slice(3))?.seq));
      return seqs.some((s, i) => i > 0 && s < seqs[i - 1]!);
    });
    const maxAttempts = Math.max(...records.map((r) => Number(r.attempts)));
    const backlog = (healthDuring.body.outbox ?? {}) as { pending?: number; paused?: string };

    console.log(
      `      graph-down figures: ${FANS} fans; connection refused ${REFUSED_MS} ms then 5xx ${FIVE_XX_MS} ms; ` +
        `send calls during 5xx ${fiveXxCalls.length} (answered 500: ${fiveXxCalls.filter((c) => c.status === 500).length}); ` +
        `send attempts while refused ${refusedAttempts}; delivered during the outage ${sentDuringOutage}; ` +
        `/healthz during 5xx ${healthDuring.status} ${JSON.stringify(healthDuring.body.outbox)}, while refused ${healthRefused.status} ${JSON.stringify(healthRefused.body.outbox)}; ` +
        `drained ${drainedMs} ms after the API came back; outbox ${records.length} records, not sent ${notSent.length}, max attempts ${maxAttempts}; ` +
        `messages ${rig.fake.messages.length}, duplicates ${duplicates}, out of order fans ${outOfOrder.length}`,
    );

    expect(bot.child.exitCode, 'the bot process is alive').to.equal(null);
    expect(sentDuringOutage, 'nothing is delivered while the API is down').to.equal(0);
    expect(backlog.pending, '/healthz shows the backlog during the outage').to.be.greaterThan(0);
    // Backoff, not a hot loop: the sends in flight when it broke, then probes at growing intervals
    // (at most two a second would already be generous; a hot loop makes hundreds).
    expect(fiveXxCalls.length, 'Send API calls during the 5xx phase').to.be.at.most(
      FANS + (2 * FIVE_XX_MS) / 1000,
    );
    expect(refusedAttempts, 'Graph calls while the API refused connections').to.be.at.most(
      (2 * REFUSED_MS) / 1000,
    );
    // The outage does not use up the messages' retries (OUTBOX_MAX_ATTEMPTS is 10): minutes of
    // outage would otherwise fail them for good.
    expect(maxAttempts, 'attempts counted on a message during the outage').to.be.at.most(4);
    expect(notSent.map((r) => [r.idempotencyKey, r.state, r.lastError?.kind])).to.deep.equal([]);
    expect(duplicates, 'messages delivered twice').to.equal(0);
    expect(unknown.length, 'messages Meta got that the outbox does not know').to.equal(0);
    expect(rig.fake.messages.length).to.equal(records.filter((r) => r.kind === 'message').length);
    expect(outOfOrder, 'fans whose messages arrived out of order').to.deep.equal([]);
    for (const psid of fans)
      expect(rig.fake.messagesTo(psid).length, psid).to.be.at.least(FIRST_MESSAGE_BURST);
  });
});
