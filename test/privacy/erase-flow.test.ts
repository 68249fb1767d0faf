import { expect } from 'chai';
import { BotStateModel } from '../../src/db/models/bot-state.js';
import { CartModel } from '../../src/db/models/cart.js';
import { DeletionRequestModel } from '../../src/db/models/deletion-request.js';
import { FanModel } from '../../src/db/models/fan.js';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { ERASED_INBOX_PAYLOAD, ERASED_OUTBOX_BODY } from '../../src/app/privacy.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

type QuickReply = { title: string; payload: string };

describe('"cancella i miei dati" in Messenger (end to end)', function () {
  let t: TestApp;

  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t?.stop();
  });
  beforeEach(() => t.fakeGraph.reset());

  const texts = (psid: string) => t.fakeGraph.messagesTo(psid).map((m) => JSON.stringify(m.message));
  const quickRepliesTo = (psid: string): QuickReply[] =>
    t.fakeGraph
      .messagesTo(psid)
      .flatMap((m) => (m.message as { quick_replies?: QuickReply[] }).quick_replies ?? []);

  async function converse(psid: string): Promise<void> {
    t.fakeGraph.addUser({ psid, pageId: t.pageId, firstName: 'Giulia', lastName: 'Bianchi' } as never);
    expect(await t.say(psid, 'ciao')).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 3);
    await CartModel.collection.insertOne({
      pageId: t.pageId,
      psid,
      status: 'open',
      lines: [{ sku: 'JEANS-M', productSku: 'JEANS', qty: 1, addedAt: new Date() }],
    });
  }

  async function askToErase(psid: string): Promise<{ yes: QuickReply; no: QuickReply }> {
    const before = t.fakeGraph.messagesTo(psid).length;
    expect(await t.say(psid, 'Per favore cancella i miei dati')).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length > before);
    const replies = quickRepliesTo(psid);
    const yes = replies.find((r) => r.payload.startsWith('privacy.erase:v1:yes'));
    const no = replies.find((r) => r.payload === 'privacy.erase:v1:no');
    expect(yes?.title).to.equal('Sì, cancella');
    expect(no?.title).to.equal('No');
    return { yes: yes!, no: no! };
  }

  it('asks for confirmation, erases the fan everywhere and confirms in Messenger', async () => {
    const psid = '4000000000000001';
    await converse(psid);
    const { yes } = await askToErase(psid);
    expect(await t.say(psid, 'Sì', { quickReplyPayload: yes.payload })).to.equal(200);

    const confirmation = await waitFor(() => texts(psid).find((m) => m.includes('/privacy/deletion/')));
    expect(confirmation).to.match(/abbiamo cancellato i tuoi dati/);

    // The fan is anonymised: the stub keeps the PSID (for counts and a "STOP") but no name.
    const fan = await FanModel.findOne({ pageId: t.pageId, psid }).lean();
    expect(fan?.forgottenAt).to.be.instanceOf(Date);
    expect(fan?.firstName).to.equal(undefined);
    expect(fan?.lastName).to.equal(undefined);

    // Every inbox payload of the fan is erased (including the "Sì" itself, once it is done).
    await waitFor(
      async () => (await InboxEventModel.countDocuments({ queueKey: `fan:${psid}`, state: 'pending' })) === 0,
    );
    const events = await InboxEventModel.find({ queueKey: `fan:${psid}` }).lean();
    expect(events.length).to.be.at.least(3);
    expect(events.every((e) => e.payload === ERASED_INBOX_PAYLOAD)).to.equal(true);
    expect(JSON.stringify(events)).to.not.contain('cancella i miei dati');

    // Outbox bodies are erased, all but the confirmation, which was sent.
    const outbox = await OutboxMessageModel.find({ 'recipient.psid': psid }).lean();
    const kept = outbox.filter((m) => m.body !== ERASED_OUTBOX_BODY);
    expect(kept).to.have.length(1);
    expect(kept[0]!.idempotencyKey).to.match(/:privacy-done$/);
    expect(kept[0]!.state).to.equal('sent');
    expect(JSON.stringify(outbox)).to.not.contain('Giulia');

    expect(await CartModel.countDocuments({ psid })).to.equal(0);
    expect(await BotStateModel.countDocuments({ _id: { $regex: psid } })).to.equal(0);
    const request = await DeletionRequestModel.findOne({ source: 'messenger' }).lean();
    expect(request?.state).to.equal('completed');
    expect(request?.subjectId).to.equal(undefined);
    const status = await fetch(`${t.app.url}/privacy/deletion/${request!.code}?lang=en`);
    expect(status.status).to.equal(200);
    expect(await status.text()).to.match(/Completed on/);
  });

  it('"No" keeps everything', async () => {
    const psid = '4000000000000002';
    await converse(psid);
    const { no } = await askToErase(psid);
    const before = t.fakeGraph.messagesTo(psid).length;
    expect(await t.say(psid, 'No', { quickReplyPayload: no.payload })).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length > before);
    expect(texts(psid).some((m) => m.includes('non cancelliamo niente'))).to.equal(true);
    const fan = await FanModel.findOne({ pageId: t.pageId, psid }).lean();
    expect(fan?.forgottenAt ?? null).to.equal(null);
    expect(await CartModel.countDocuments({ psid })).to.equal(1);
  });

  it('typed text that looks like the confirm payload erases nothing', async () => {
    const psid = '4000000000000003';
    await converse(psid);
    const { yes } = await askToErase(psid);
    const before = t.fakeGraph.messagesTo(psid).length;
    expect(await t.say(psid, yes.payload)).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length > before);
    const fan = await FanModel.findOne({ pageId: t.pageId, psid }).lean();
    expect(fan?.forgottenAt ?? null).to.equal(null);
  });

  it('a stale confirmation is asked again', async () => {
    const psid = '4000000000000004';
    await converse(psid);
    const stale = `privacy.erase:v1:yes:${Math.floor(Date.now() / 1000) - 2 * 3600}`;
    const before = t.fakeGraph.messagesTo(psid).length;
    expect(await t.say(psid, 'Sì', { quickReplyPayload: stale })).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= before + 2);
    expect(texts(psid).some((m) => m.includes('scaduta'))).to.equal(true);
    const fan = await FanModel.findOne({ pageId: t.pageId, psid }).lean();
    expect(fan?.forgottenAt ?? null).to.equal(null);
  });
});
