/**
 * Fault: the Page access token is revoked mid-broadcast. From one moment on the fake Graph API answers
 * every call made with it 190 ("session has been invalidated"). The bot is a child process; the
 * database and the fake Graph API live in this test.
 *
 * What must hold: sending for the page stops (only the calls already in flight get their 190), the
 * operator alert is logged and /healthz says why sending stopped, nothing is recorded as sent that
 * Meta did not accept, and the broadcast's counters match the records. The bot reads its token from
 * the environment (there is no rotation at run time), so after the manager generates a new token the
 * bot is restarted with it: the broadcast then completes, and no fan gets the promotion twice.
 *
 * FAULTS_LONG=1: 5,000 fans instead of 300.
 */
import { expect } from 'chai';
import mongoose from 'mongoose';
import { broadcastStats, createBroadcast, startBroadcast } from '../../src/app/broadcasts.js';
import { FanModel } from '../../src/db/models/fan.js';
import type { BotProcess } from '../support/child-bot.js';
import { waitFor } from '../support/app.js';
import {
  duplicateSends,
  FAULT_PAGE,
  health,
  LONG,
  sleep,
  startFaultRig,
  watchLog,
  type FaultRig,
} from './helpers.js';

const FANS = LONG ? 5000 : 300;
const NEW_TOKEN = 'FAULT-SUITE-PAGE-ACCESS-TOKEN-ROTATED-0002';
const isSend = (path: string) => /\/messages$/.test(path);

describe('fault: the page token is revoked mid-broadcast', function () {
  this.timeout(LONG ? 600_000 : 120_000);
  let rig: FaultRig;
  let bot: BotProcess;

  before(async () => {
    // A little Graph latency keeps several sends in flight when the token dies.
    rig = await startFaultRig('token', { graphLatencyMs: 20 });
    await mongoose.connect(rig.mongoUri);
  });

  after(async () => {
    await mongoose.disconnect();
    await rig?.close();
  });

  it('stops sending, alerts, records only what Meta accepted, and resumes with a new token without duplicates', async () => {
    const at = new Date(Date.now() - 3_600_000);
    const psids = Array.from({ length: FANS }, (_, i) => `26${String(i + 1).padStart(13, '0')}`);
    await FanModel.collection.insertMany(
      psids.map((psid) => ({
        pageId: FAULT_PAGE.id,
        psid,
        locale: 'it',
        firstInteractionAt: at,
        lastInteractionAt: at,
        profileFetchedAt: at,
        tags: [],
        interests: [],
        reachable: true,
        marketingOptOut: false,
        optIns: [],
      })),
    );
    for (const psid of psids) rig.fake.noteUserInteraction(FAULT_PAGE.id, psid, at);

    bot = await rig.startBot();
    const log = watchLog(bot);
    const ctx = () => ({ pageId: FAULT_PAGE.id, now: new Date() });
    const created = await createBroadcast(ctx(), {
      name: 'token revoked',
      purpose: 'promotion',
      contents: [{ locale: 'it', text: 'Anteprima riservata' }],
      segment: { definition: { rules: [] } },
    });
    if (!created.ok) throw new Error(JSON.stringify(created));
    const id = created.broadcast.id;
    await startBroadcast(ctx(), id);

    // Mid-broadcast, the manager's token dies (password changed, app removed...).
    await waitFor(() => rig.fake.messages.length >= FANS / 4, 60_000);
    rig.fake.revokeToken(FAULT_PAGE.accessToken);
    const revokedAtCall = rig.fake.calls.length;
    const sentBeforeRevoke = rig.fake.messages.length;

    // Sending stops: once the alert is out, no further call for a while.
    await waitFor(() => log.alerts('page_token_invalid').length > 0, 20_000);
    await sleep(1000);
    const callsAtQuiet = rig.fake.calls.length;
    await sleep(4000);
    const callsAfterQuiet = rig.fake.calls.slice(callsAtQuiet).filter((c) => isSend(c.path)).length;
    const refusedSends = rig.fake.calls
      .slice(revokedAtCall)
      .filter((c) => isSend(c.path) && c.status !== 200).length;
    const acceptedAfterRevoke = rig.fake.messages.length - sentBeforeRevoke;
    const healthRevoked = await health(bot);

    // Nothing recorded as sent that Meta did not accept, and the counters say the same.
    const outbox = rig.db().collection('outbox');
    const acceptedIds = () => new Set(rig.fake.messages.map((m) => (m.metadata ?? '').slice(3)));
    const recordedSent = async () =>
      new Set(
        (await outbox.find({ 'origin.id': id, state: 'sent' }, { projection: { _id: 1 } }).toArray()).map(
          (r) => String(r._id),
        ),
      );
    const sentMid = await recordedSent();
    const acceptedMid = acceptedIds();
    const statsMid = await waitFor(async () => {
      const s = await broadcastStats(ctx(), id);
      return s && s.counters.sent === sentMid.size ? s : undefined;
    }, 10_000);
    const failedMid = await outbox.countDocuments({ 'origin.id': id, state: 'failed' });

    // The manager generates a new token; the bot is restarted with it.
    rig.fake.issuePageToken(FAULT_PAGE.id, NEW_TOKEN);
    await bot.stop();
    const restartedAt = Date.now();
    bot = await rig.startBot({ FACEBOOK_ACCESS_TOKEN: NEW_TOKEN });
    await waitFor(() => rig.fake.messages.length >= FANS, LONG ? 300_000 : 60_000);
    const deliveredMs = Date.now() - restartedAt;
    const stats = await waitFor(
      async () => {
        const s = await broadcastStats(ctx(), id);
        return s?.state === 'completed' ? s : undefined;
      },
      LONG ? 300_000 : 60_000,
    );
    const resumedMs = Date.now() - restartedAt;
    await sleep(1000);
    const healthAfter = await health(bot);

    const perFan = new Map<string, number>();
    for (const m of rig.fake.messages) perFan.set(m.psid ?? '', (perFan.get(m.psid ?? '') ?? 0) + 1);
    const missed = psids.filter((p) => !perFan.has(p));
    const duplicates = duplicateSends(rig.fake.messages);
    const twice = psids.filter((p) => (perFan.get(p) ?? 0) > 1);
    const sentEnd = await recordedSent();
    const acceptedEnd = acceptedIds();
    const paused = (healthRevoked.body.outbox ?? {}) as { paused?: string };

    console.log(
      `      token-revoked figures: ${FANS} fans; accepted before the revocation ${sentBeforeRevoke}; ` +
        `sends answered 190 ${refusedSends} (in flight at the revocation), accepted after it ${acceptedAfterRevoke}; ` +
        `send calls in the 4 s after the alert ${callsAfterQuiet}; alerts ${log
          .alerts()
          .map((a) => a.alert)
          .join(',')}; ` +
        `/healthz ${healthRevoked.status} ${healthRevoked.body.status} paused=${JSON.stringify(paused.paused)}; ` +
        `mid: recorded sent ${sentMid.size}, accepted by Meta ${acceptedMid.size}, counters.sent ${statsMid.counters.sent}, failed ${failedMid}, pending ${statsMid.pending}; ` +
        `after restart with a new token: all delivered in ${deliveredMs} ms, completed in ${resumedMs} ms, messages ${rig.fake.messages.length}, counters.sent ${stats.counters.sent}, ` +
        `missed ${missed.length}, duplicates ${duplicates}; /healthz after ${JSON.stringify(healthAfter.body)}`,
    );

    expect(log.alerts('page_token_invalid').length, 'one operator alert per stop').to.equal(1);
    expect(healthRevoked.body.status).to.equal('degraded');
    expect(paused.paused ?? '', '/healthz says why sending stopped').to.match(/token/);
    // What the dashboard's overview shows managers.
    expect((healthRevoked.body.pageToken as { status?: string } | undefined)?.status).to.equal('invalid');
    // Stopped: only the calls in flight when the token died got their 190, then silence.
    expect(callsAfterQuiet, 'send calls after the sender stopped').to.equal(0);
    // In flight: at most the sender's concurrency (128); the figure printed above is the real one.
    expect(refusedSends, 'sends answered 190').to.be.at.most(128);
    // Honest records and counters mid-way.
    expect(
      [...sentMid].filter((x) => !acceptedMid.has(x)),
      'recorded sent, never accepted',
    ).to.deep.equal([]);
    expect(
      [...acceptedMid].filter((x) => !sentMid.has(x)),
      'accepted, not recorded',
    ).to.deep.equal([]);
    expect(statsMid.counters.sent).to.equal(acceptedMid.size);
    expect(statsMid.counters.failed, 'nothing failed for good').to.equal(0);
    expect(failedMid).to.equal(0);
    expect(statsMid.pending).to.equal(FANS - sentMid.size);
    // After the new token: everyone once.
    expect(missed, 'fans without the promotion').to.deep.equal([]);
    expect(twice, 'fans who got it twice').to.deep.equal([]);
    expect(duplicates).to.equal(0);
    expect(stats.counters.sent).to.equal(FANS);
    expect(sentEnd.size).to.equal(FANS);
    expect([...sentEnd].filter((x) => !acceptedEnd.has(x))).to.deep.equal([]);
    expect(healthAfter.body.status, '/healthz after the new token').to.equal('ok');
    expect((healthAfter.body.pageToken as { status?: string } | undefined)?.status).to.equal('valid');
  });
});
