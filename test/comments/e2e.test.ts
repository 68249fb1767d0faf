import { expect } from 'chai';
import { Types } from 'mongoose';
import { announceTippingOnPosts } from '../../src/comments/index.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { CommentModel } from '../../src/db/models/comment.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { PagePostModel } from '../../src/db/models/page-post.js';
import { PledgeModel } from '../../src/db/models/pledge.js';
import { GraphClient } from '../../src/messenger/graph/client.js';
import { silentLogger } from '../../src/log.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';
import { commentBody, commenter, openCampaignWithPost, sleep, tap } from './helpers.js';

type Sent = { recipient: Record<string, string>; message: Record<string, unknown> };

const privateRepliesTo = (t: TestApp, commentId: string) =>
  (t.fakeGraph.messages as Sent[]).filter((m) => m.recipient.comment_id === commentId);
const publicRepliesTo = (t: TestApp, commentId: string) =>
  t.fakeGraph.publicReplies.filter((r) => r.commentId === commentId);

/** The postback payloads of a generic/button template (the Join button carries the comment id). */
function payloadsOf(message: Record<string, unknown>): string[] {
  const payload = (message.attachment as { payload?: Record<string, unknown> } | undefined)?.payload;
  const elements = (payload?.elements as { buttons?: { payload?: string }[] }[] | undefined) ?? [];
  const buttons = [
    ...elements.flatMap((e) => e.buttons ?? []),
    ...((payload?.buttons as { payload?: string }[] | undefined) ?? []),
  ];
  return buttons.map((b) => b.payload ?? '').filter((p) => p.length > 0);
}

describe('comments: end to end through signed feed webhooks and the fake Graph API', function () {
  this.timeout(120_000);
  let t: TestApp;

  before(async () => {
    t = await startTestApp();
  });
  after(async () => t?.stop());

  it('a join comment gets exactly one private reply (the offer card) and one public reply; redelivery and edits add nothing', async () => {
    const { postId } = await openCampaignWithPost(t);
    const who = commenter(1);
    const { commentId, body } = commentBody(t, { postId, who, message: 'JOIN 2 M' });
    expect((await t.post(body)).status).to.equal(200);
    await waitFor(
      () => privateRepliesTo(t, commentId).length === 1 && publicRepliesTo(t, commentId).length === 1,
    );

    const [card] = privateRepliesTo(t, commentId);
    const payloads = payloadsOf(card!.message);
    expect(payloads).to.include(`gb.cjoin:v1:${commentId}`);
    expect(payloads).to.include(`gb.cinfo:v1:${commentId}`);
    const element = (card!.message.attachment as { payload: { elements: Record<string, unknown>[] } }).payload
      .elements[0]!;
    expect(element.title).to.equal('Jeans together'); // "JOIN 2 M" reads as English
    expect(String(element.subtitle)).to.match(/^0\/25/);
    expect(String(element.image_url)).to.match(/^http/);
    expect(publicRepliesTo(t, commentId)[0]!.message).to.match(/0\/25/);

    // Meta retries the same delivery; then the fan edits the comment.
    expect((await t.post(body)).status).to.equal(200);
    const edited = commentBody(t, { postId, who, message: 'JOIN 3 L', verb: 'edited', commentId });
    expect((await t.post(edited.body)).status).to.equal(200);
    await sleep(600);
    expect(privateRepliesTo(t, commentId)).to.have.length(1);
    expect(publicRepliesTo(t, commentId)).to.have.length(1);

    const stored = await CommentModel.findOne({ commentId }).lean();
    expect(stored!.intent).to.deep.include({ type: 'join', quantity: 2, variant: 'M' });
    expect(stored!.message).to.equal('JOIN 3 L');
    expect(stored!.privateReply?.state).to.equal('sent');
    expect(stored!.publicReply?.state).to.equal('sent');
    expect(stored!.state).to.equal('private_replied');
    expect(stored!.psid).to.equal(null);
    expect(await PledgeModel.countDocuments({ 'source.commentId': commentId })).to.equal(0); // an intent is not a pledge
  });

  it('the older sender_id/sender_name shape works too, and a reply to a comment counts', async () => {
    const { postId } = await openCampaignWithPost(t);
    const top = commentBody(t, { postId, who: commenter(2), message: 'bello!' });
    await t.post(top.body);
    const reply = commentBody(t, {
      postId,
      who: commenter(3),
      message: 'ci sto anche io 🙋‍♀️',
      parentId: top.commentId,
      legacySender: true,
    });
    await t.post(reply.body);
    await waitFor(() => privateRepliesTo(t, reply.commentId).length === 1);
    const stored = await CommentModel.findOne({ commentId: reply.commentId }).lean();
    expect(stored).to.deep.include({
      fromId: commenter(3).fromId,
      fromName: 'Fan 3',
      parentId: top.commentId,
    });
    expect(privateRepliesTo(t, top.commentId)).to.have.length(0); // no intent: no answer
    expect((await CommentModel.findOne({ commentId: top.commentId }).lean())!.state).to.equal('seen');
  });

  it("the Page's own comment gets nothing; a post linked to nothing is ignored", async () => {
    const { postId } = await openCampaignWithPost(t);
    const own = commentBody(t, {
      postId,
      who: { fromId: t.pageId, name: 'Denim Lab' },
      message: 'Chi vuole? Scrivete "io"!',
    });
    await t.post(own.body);
    const unlinked = commentBody(t, { postId: `${t.pageId}_99999`, who: commenter(4), message: 'voglio' });
    await t.post(unlinked.body);
    await sleep(800);
    expect(privateRepliesTo(t, own.commentId)).to.have.length(0);
    expect(publicRepliesTo(t, own.commentId)).to.have.length(0);
    expect(privateRepliesTo(t, unlinked.commentId)).to.have.length(0);
    expect(await CommentModel.countDocuments({ commentId: unlinked.commentId })).to.equal(0);
  });

  it('tapping Join in the private reply makes the pledge with the comment as its source, once', async () => {
    const { postId, campaignId } = await openCampaignWithPost(t);
    const who = commenter(5);
    const { commentId, body } = commentBody(t, { postId, who: { ...who }, message: 'ne voglio 2 taglia S' });
    await t.post(body);
    await waitFor(() => privateRepliesTo(t, commentId).length === 1);
    const psid = t.fakeGraph.psidForComment(commentId)!;
    expect(psid).to.equal(who.psid);

    expect(await tap(t, psid, `gb.cjoin:v1:${commentId}`)).to.equal(200);
    const pledge = await waitFor(() =>
      PledgeModel.findOne({ campaignId: new Types.ObjectId(campaignId), psid, state: { $ne: 'pending' } })
        .lean()
        .then((p) => p ?? undefined),
    );
    expect(pledge.source).to.deep.include({ type: 'comment', commentId, postId });
    expect(pledge).to.deep.include({ quantity: 2, variantSku: 'CP1-S', state: 'active' });
    const stored = await waitFor(() =>
      CommentModel.findOne({ commentId, state: 'confirmed' })
        .lean()
        .then((c) => c ?? undefined),
    );
    expect(stored.psid).to.equal(psid);
    expect(stored.pledgeId).to.equal(String(pledge._id));
    await waitFor(() =>
      t.fakeGraph.messagesTo(psid).some((m) => JSON.stringify(m.message).includes('Fatto!')),
    );

    // A second tap answers with the existing pledge and changes nothing.
    await tap(t, psid, `gb.cjoin:v1:${commentId}`);
    await waitFor(() =>
      t.fakeGraph.messagesTo(psid).some((m) => JSON.stringify(m.message).includes('Sei già dentro')),
    );
    expect(await PledgeModel.countDocuments({ campaignId: new Types.ObjectId(campaignId) })).to.equal(1);
    expect((await CampaignModel.findById(campaignId).lean())!.committed).to.equal(2);
  });

  it('a comment without a size asks for the variant in Messenger, then joins with the comment as source', async () => {
    const { postId, campaignId } = await openCampaignWithPost(t);
    const who = commenter(6);
    const { commentId, body } = commentBody(t, { postId, who, message: 'io!' });
    await t.post(body);
    await waitFor(() => privateRepliesTo(t, commentId).length === 1);
    await tap(t, who.psid, `gb.cjoin:v1:${commentId}`);
    const ask = await waitFor(() =>
      t.fakeGraph.messagesTo(who.psid).find((m) => Array.isArray(m.message.quick_replies)),
    );
    const chips = ask.message.quick_replies as { payload: string }[];
    expect(chips.map((c) => c.payload)).to.include(`gb.cvar:v1:${commentId}:CP1-L`);
    await tap(t, who.psid, `gb.cvar:v1:${commentId}:CP1-L`, 'L');
    const pledge = await waitFor(() =>
      PledgeModel.findOne({
        campaignId: new Types.ObjectId(campaignId),
        psid: who.psid,
        state: { $ne: 'pending' },
      })
        .lean()
        .then((p) => p ?? undefined),
    );
    expect(pledge).to.deep.include({ quantity: 1, variantSku: 'CP1-L' });
    expect(pledge.source?.commentId).to.equal(commentId);
  });

  it('a 10900 from Meta (someone already replied privately) marks the comment handled without retry', async () => {
    const { postId } = await openCampaignWithPost(t);
    const who = commenter(7);
    const { commentId, body } = commentBody(t, { postId, who, message: 'voglio' });
    // Another tool answers the comment in private first.
    const graph = new GraphClient({
      baseUrl: `${t.app.url}/fake-graph`,
      version: t.config.graph.version,
      appSecret: t.config.facebook.appSecret,
      log: silentLogger,
    });
    await graph.sendMessage(t.config.facebook.page.accessToken, t.pageId, {
      recipient: { comment_id: commentId },
      messaging_type: 'RESPONSE',
      message: { text: 'Ciao! Ti scriviamo noi.' },
    } as never);
    graph.close();
    await t.post(body);
    const stored = await waitFor(() =>
      CommentModel.findOne({ commentId, 'privateReply.state': 'already_replied' })
        .lean()
        .then((c) => c ?? undefined),
    );
    expect(stored.state).to.equal('private_replied');
    const record = await OutboxMessageModel.findOne({ idempotencyKey: `pr:${commentId}` }).lean();
    expect(record).to.deep.include({ state: 'failed', attempts: 1 });
    expect(record!.lastError?.code).to.equal(10900);
    const tries = t.fakeGraph.calls.filter(
      (c) => JSON.stringify(c.body ?? {}).includes(commentId) && c.path.endsWith('/messages'),
    );
    expect(tries).to.have.length(2); // the other tool's, and ours once
  });

  it('an info question gets the details in private; remove withdraws an unconfirmed intent', async () => {
    const { postId } = await openCampaignWithPost(t);
    const q = commentBody(t, { postId, who: commenter(8), message: 'Quanto costa?' });
    await t.post(q.body);
    await waitFor(() => privateRepliesTo(t, q.commentId).length === 1);
    const info = privateRepliesTo(t, q.commentId)[0]!.message;
    expect(JSON.stringify(info)).to.include('Prezzo attuale');
    expect(payloadsOf(info)).to.include(`gb.cjoin:v1:${q.commentId}`);

    const j = commentBody(t, { postId, who: commenter(9), message: 'count me in' });
    await t.post(j.body);
    await waitFor(() => privateRepliesTo(t, j.commentId).length === 1);
    const removed = commentBody(t, {
      postId,
      who: commenter(9),
      message: '',
      verb: 'remove',
      commentId: j.commentId,
    });
    await t.post(removed.body);
    await waitFor(() =>
      CommentModel.findOne({ commentId: j.commentId, state: 'withdrawn' })
        .lean()
        .then((c) => c ?? undefined),
    );
    const en = (await CommentModel.findOne({ commentId: j.commentId }).lean())!;
    expect(en.locale).to.equal('en');
  });

  it('a product-linked post answers with the product card and the shop’s Choose', async () => {
    const postId = `${t.pageId}_55501`;
    await PagePostModel.create({
      pageId: t.pageId,
      postId,
      message: 'Il nostro jeans',
      createdTime: new Date(),
      link: { type: 'product', id: 'CP1' },
    });
    const c = commentBody(t, { postId, who: commenter(10), message: 'lo voglio!' });
    await t.post(c.body);
    await waitFor(
      () => privateRepliesTo(t, c.commentId).length === 1 && publicRepliesTo(t, c.commentId).length === 1,
    );
    expect(payloadsOf(privateRepliesTo(t, c.commentId)[0]!.message)).to.include('shop.product:v1:CP1');
  });
});

describe('comments: tipping announced on the linked posts', function () {
  this.timeout(60_000);
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => t?.stop());

  it('the join that tips the campaign posts one public update under the newest comment of each linked post', async () => {
    const { postId, campaignId } = await openCampaignWithPost(t, {
      minQuantity: 2,
      tiers: [{ fromQuantity: 0, unitPrice: 4990 }],
    });
    const who = commenter(40);
    const { commentId, body } = commentBody(t, { postId, who, message: 'ne voglio 2 taglia S' });
    await t.post(body);
    await waitFor(() => privateRepliesTo(t, commentId).length === 1);
    await tap(t, who.psid, `gb.cjoin:v1:${commentId}`);
    const update = await waitFor(() =>
      t.fakeGraph.publicReplies.find((r) => r.commentId === commentId && r.message.includes('2/2')),
    );
    expect(update.message).to.include('Jeans insieme');
    expect((await CampaignModel.findById(campaignId).lean())!.state).to.equal('tipped');
    // Idempotent: announcing again adds nothing.
    const again = await announceTippingOnPosts(
      { pageId: t.pageId, now: new Date(), config: t.config },
      campaignId,
    );
    expect(again).to.deep.equal({ posts: 1, created: 0 });
  });
});
