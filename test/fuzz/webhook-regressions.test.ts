/**
 * Inputs the webhook fuzz suite found to park events (a handler threw where it should have coped),
 * kept as fixed regression cases.
 */
import { expect } from 'chai';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { messagingBody, referralEvent, messageEvent, postbackEvent } from '../../src/dev/webhook-payloads.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

describe('webhook fuzz findings (regressions)', function () {
  let t: TestApp;

  before(async () => {
    t = await startTestApp({ INBOX_MAX_ATTEMPTS: '1' });
  });
  after(async () => {
    await t?.stop();
  });

  it('a fan event without a recipient is handled, not parked (Botkit read recipient.id unguarded)', async () => {
    const psid = '3200000000000001';
    const events = [
      referralEvent({ pageId: t.pageId, psid, ref: 'r_abcdefgh' }),
      messageEvent({ pageId: t.pageId, psid, text: 'menu', mid: 'm_fuzz_norecipient_1' }),
      postbackEvent({
        pageId: t.pageId,
        psid,
        payload: 'menu:v1',
        title: 'Menu',
        mid: 'm_fuzz_norecipient_2',
      }),
    ].map((e, i) => {
      const broken: Record<string, unknown> = { ...e };
      if (i === 0) delete broken.recipient;
      else broken.recipient = i === 1 ? 'not an object' : null;
      return broken;
    });
    expect((await t.post(JSON.stringify(messagingBody(t.pageId, ...(events as never[]))))).status).to.equal(
      200,
    );
    await waitFor(
      async () => (await InboxEventModel.countDocuments({ queueKey: `fan:${psid}`, state: 'pending' })) === 0,
    );
    const stored = await InboxEventModel.find(
      { queueKey: `fan:${psid}` },
      { kind: 1, state: 1, lastError: 1 },
    ).lean();
    expect(stored.map((e) => `${e.kind}:${e.state}${e.lastError ? ` ${e.lastError}` : ''}`)).to.have.members([
      'referral:done',
      'message:done',
      'postback:done',
    ]);
  });
});
