import { expect } from 'chai';
import { createProposal, linkProposalPost, publishProposal } from '../../src/app/proposals.js';
import { changesBody, commentChange, messagingBody, postbackEvent } from '../../src/dev/webhook-payloads.js';
import { VoteModel } from '../../src/db/models/vote.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

interface Sent {
  message: {
    text?: string;
    quick_replies?: { title: string; payload: string }[];
    attachment?: {
      payload: { elements?: { title: string; subtitle?: string; buttons?: { payload?: string }[] }[] };
    };
  };
}

describe('co-design: a vote through the webhook (end to end)', function () {
  this.timeout(60_000);
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => t?.stop());

  const exchange = (psid: string, act: () => Promise<unknown>, count = 1) =>
    t.exchange<Sent>(psid, act, count);
  const tap = (psid: string, payload: string, count = 1) =>
    exchange(
      psid,
      () => {
        t.fakeGraph.noteUserInteraction(t.pageId, psid);
        return t.post(
          messagingBody(t.pageId, postbackEvent({ pageId: t.pageId, psid, payload, title: 'b' })),
        );
      },
      count,
    );

  it('"vota" shows the options as cards; a Vote tap counts once and answers with the live standings', async () => {
    const now = new Date();
    const created = await createProposal(
      { pageId: t.pageId, now, config: t.config },
      {
        code: 'E2ECOL',
        kind: 'choice',
        options: [
          { id: 'blu', texts: { it: 'Blu', en: 'Blue' } },
          { id: 'nero', texts: { it: 'Nero', en: 'Black' } },
        ],
        texts: {
          it: { title: 'Che colore?', description: 'Scegli tu' },
          en: { title: 'Colour?', description: '' },
        },
        deadline: new Date(now.getTime() + 48 * 3_600_000),
        threshold: 100,
        onDecision: 'draft_campaign',
        campaignTemplate: {
          minQuantity: 10,
          maxQuantity: null,
          tiers: [{ fromQuantity: 0, unitPrice: 3990 }],
          deadlineOffsetHours: 72,
          perFanLimit: 2,
        },
      },
    );
    if (!created.ok) throw new Error(JSON.stringify(created));
    await publishProposal({ pageId: t.pageId, now, config: t.config }, created.proposal.id);
    const psid = '4100000000000001';
    await exchange(psid, () => t.say(psid, 'ciao'), 3);
    const [menu] = await exchange(psid, () => t.say(psid, 'menu'));
    expect(menu!.message.quick_replies!.map((q) => q.payload)).to.include('cd:v1');
    const [, cards, standings] = await exchange(psid, () => t.say(psid, 'vota'), 3);
    const elements = cards!.message.attachment!.payload.elements!;
    expect(elements.map((e) => e.title)).to.deep.equal(['Blu', 'Nero']);
    expect(elements[0]!.subtitle).to.contain('0 voti');
    expect(standings!.message.text).to.contain('Blu 0 · Nero 0');
    const vote = elements[1]!.buttons![0]!.payload!;
    const [reply] = await tap(psid, vote);
    expect(reply!.message.text).to.contain('Voto registrato: Nero');
    expect(reply!.message.text).to.contain('Nero 1 · Blu 0');
    expect(reply!.message.quick_replies![0]!.payload).to.equal(`cd.notify:v1:${created.proposal.id}`);
    const [again] = await tap(psid, vote);
    expect(again!.message.text).to.contain('Hai già votato Nero');
    expect(await VoteModel.countDocuments({ psid })).to.equal(1);
    const [noted] = await tap(psid, `cd.notify:v1:${created.proposal.id}`);
    expect(noted!.message.text).to.contain('Nero');
    expect((await VoteModel.findOne({ psid }).lean())!.notifyWhenMade).to.equal(true);
  });
  it('a comment naming an option under a linked post gets one private reply; confirming counts the vote once', async () => {
    const now = new Date();
    const created = await createProposal(
      { pageId: t.pageId, now, config: t.config },
      {
        code: 'E2ECMT',
        kind: 'choice',
        options: [
          { id: 'verde', texts: { it: 'Verde', en: 'Green' } },
          { id: 'rosso', texts: { it: 'Rosso', en: 'Red' } },
        ],
        texts: {
          it: { title: 'Quale colore?', description: '' },
          en: { title: 'Which colour?', description: '' },
        },
        deadline: new Date(now.getTime() + 48 * 3_600_000),
        threshold: 100,
        onDecision: 'draft_campaign',
        campaignTemplate: {
          minQuantity: 10,
          maxQuantity: null,
          tiers: [{ fromQuantity: 0, unitPrice: 3990 }],
          deadlineOffsetHours: 72,
          perFanLimit: 2,
        },
      },
    );
    if (!created.ok) throw new Error(JSON.stringify(created));
    await publishProposal({ pageId: t.pageId, now, config: t.config }, created.proposal.id);
    const postId = `${t.pageId}_555`;
    await linkProposalPost({ pageId: t.pageId, now, config: t.config }, created.proposal.id, postId);
    const psid = '4100000000000009';
    const commentId = `${postId}_1`;
    t.fakeGraph.noteComment(t.pageId, { commentId, postId, fromId: '9009', createdTime: now, psid });
    const change = commentChange({
      pageId: t.pageId,
      verb: 'add',
      commentId,
      postId,
      message: 'Io voto il VERDE!!',
      from: { id: '9009', name: 'Anna' },
    });
    expect((await t.post(changesBody(t.pageId, change))).status).to.equal(200);
    const [privateReply] = (await waitFor(() => {
      const m = t.fakeGraph.messagesTo(psid);
      return m.length >= 1 && m;
    })) as unknown as Sent[];
    expect(JSON.stringify(privateReply)).to.contain(`cd.cvote:v1:${commentId}`);
    // A redelivery of the same comment changes nothing.
    expect((await t.post(changesBody(t.pageId, change))).status).to.equal(200);
    await tap(psid, `cd.cvote:v1:${commentId}`);
    await tap(psid, `cd.cvote:v1:${commentId}`);
    expect(t.fakeGraph.messages.filter((m) => m.commentId === commentId)).to.have.length(1);
    const votes = await VoteModel.find({ psid }).lean();
    expect(votes).to.have.length(1);
    expect(votes[0]!.optionId).to.equal('verde');
    expect(votes[0]!.source).to.equal('comment');
  });
});
