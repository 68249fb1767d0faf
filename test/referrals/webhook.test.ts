import { expect } from 'chai';
import { upsertProduct } from '../../src/app/catalog.js';
import { createCampaign, openCampaign } from '../../src/app/groupbuy.js';
import { balance } from '../../src/app/ledger.js';
import { transitionOrder } from '../../src/app/orders.js';
import { campaignLeaders, campaignReach, setRewardConfig } from '../../src/app/referrals.js';
import { FanModel } from '../../src/db/models/fan.js';
import { OrderModel } from '../../src/db/models/order.js';
import { PledgeModel } from '../../src/db/models/pledge.js';
import { ReferralModel } from '../../src/db/models/referral.js';
import { messagingBody, postbackEvent, referralEvent } from '../../src/dev/webhook-payloads.js';
import { sampleProduct } from '../shop/helpers.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

interface Button {
  type: string;
  title: string;
  payload?: string;
  url?: string;
}
interface Sent {
  messagingType?: string;
  message: {
    text?: string;
    quick_replies?: { title: string; payload: string }[];
    attachment?: {
      type: string;
      payload: {
        template_type?: string;
        text?: string;
        elements?: {
          title: string;
          subtitle?: string;
          buttons?: Button[];
          default_action?: { url: string };
        }[];
        buttons?: Button[];
      };
    };
  };
}

const textOf = (m: Sent | undefined) => m?.message.text ?? m?.message.attachment?.payload.text ?? '';
const H = 60 * 60 * 1000;

describe('referrals: through the webhook (end to end)', function () {
  this.timeout(90_000);
  let t: TestApp;
  let n = 0;

  before(async () => {
    t = await startTestApp();
    await upsertProduct({ pageId: t.pageId }, sampleProduct('RF1'));
    await setRewardConfig(
      { pageId: t.pageId, now: new Date() },
      'page',
      { referrer: { kind: 'credit', amount: 500 }, friend: { kind: 'points', points: 20 } },
      'test',
    );
  });
  after(async () => {
    await t?.stop();
  });

  async function exchange(psid: string, act: () => Promise<unknown>, count = 1): Promise<Sent[]> {
    const before = t.fakeGraph.messagesTo(psid).length;
    await act();
    await waitFor(() => {
      const m = t.fakeGraph.messagesTo(psid);
      return m.length >= before + count && m;
    }, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    return t.fakeGraph.messagesTo(psid).slice(before) as unknown as Sent[];
  }
  const post = (psid: string, event: Parameters<typeof messagingBody>[1]) => {
    t.fakeGraph.noteUserInteraction(t.pageId, psid);
    return t.post(messagingBody(t.pageId, event));
  };
  const tap = (psid: string, payload: string, count = 1) =>
    exchange(psid, () => post(psid, postbackEvent({ pageId: t.pageId, psid, payload, title: 'b' })), count);
  /** A new thread opened from an m.me link: Get Started carrying `postback.referral`. */
  const getStarted = (psid: string, ref: string, count: number) =>
    exchange(
      psid,
      () =>
        post(
          psid,
          postbackEvent({ pageId: t.pageId, psid, payload: 'start:v1', title: 'Inizia', referral: { ref } }),
        ),
      count,
    );
  /** An m.me link opened on an existing thread: `messaging_referrals`. */
  const openLink = (psid: string, ref: string, count = 1) =>
    exchange(psid, () => post(psid, referralEvent({ pageId: t.pageId, psid, ref })), count);
  const newPsid = () => `41000000000000${String(++n).padStart(2, '0')}`;
  const newFan = async () => {
    const psid = newPsid();
    await exchange(psid, () => t.say(psid, 'ciao'), 3);
    return psid;
  };
  const record = (psid: string, scope = 'page') =>
    ReferralModel.findOne({ pageId: t.pageId, inviteePsid: psid, scope }).lean();

  /** The fan taps "Invita amici" in the main menu: the forwardable card with their link. */
  async function linkOf(psid: string, payload = 'ref:v1'): Promise<string> {
    const sent = await tap(psid, payload, 3);
    const card = sent.find((m) => m.message.attachment?.payload.template_type === 'generic');
    const url = card!.message.attachment!.payload.elements![0]!.buttons![0]!.url!;
    return new URL(url).searchParams.get('ref')!;
  }

  it('the main menu offers "Invita amici"; the card carries a valid m.me link as a URL button', async () => {
    const a = newPsid();
    const [, , menu] = await exchange(a, () => t.say(a, 'ciao'), 3);
    expect(menu!.message.quick_replies!.find((q) => q.title === 'Invita amici')!.payload).to.equal('ref:v1');
    const [intro, card, share] = await tap(a, 'ref:v1', 3);
    expect(textOf(intro)).to.contain('link personale');
    const el = card!.message.attachment!.payload.elements![0]!;
    expect(el.buttons).to.have.length(1);
    expect(el.buttons![0]!.type).to.equal('web_url');
    expect(el.buttons![0]!.url).to.match(new RegExp(`^https://m\\.me/${t.pageId}\\?ref=r_[a-z2-9]{8}$`));
    expect(textOf(share)).to.contain(el.buttons![0]!.url!).and.to.contain('5,00');
  });

  it('new thread via Get Started with postback.referral: attributed, and the fan is still greeted', async () => {
    const a = await newFan();
    const ref = await linkOf(a);
    const b = newPsid();
    const sent = await getStarted(b, ref, 4);
    expect(textOf(sent[0])).to.match(/^Ciao/);
    expect(sent.some((m) => textOf(m).includes('ricevi 20 punti'))).to.equal(true);
    const rec = await record(b);
    expect(rec).to.deep.include({
      referrerPsid: a,
      decision: 'attributed',
      reason: 'first_touch',
      ref,
      source: 'SHORTLINK',
    });
    const fan = await FanModel.findOne({ pageId: t.pageId, psid: b }).lean();
    expect(fan!.arrival!.ref).to.equal(ref);
  });

  it('existing thread via messaging_referrals: attributed; then self-referral and the loop A→B→A are refused', async () => {
    const a = await newFan();
    const ref = await linkOf(a);
    const c = await newFan();
    const sent = await openLink(c, ref, 2);
    expect(sent.some((m) => m.message.quick_replies?.some((q) => q.payload === 'ref:v1'))).to.equal(true);
    expect(await record(c)).to.deep.include({ referrerPsid: a, decision: 'attributed' });

    await openLink(a, ref);
    expect(await record(a)).to.deep.include({ decision: 'refused', reason: 'self_referral' });
    const cRef = await linkOf(c);
    await openLink(a, cRef);
    expect(await record(a)).to.deep.include({ decision: 'refused', reason: 'loop' });
  });

  it('A gets their link, B (Get Started) and C (existing thread) arrive through it, join a group buy and pay: A earns, leads', async () => {
    const gctx = { pageId: t.pageId, now: new Date(), config: t.config };
    const created = await createCampaign(gctx, {
      slug: 'INVITE1',
      productSku: 'RF1',
      variantSku: null,
      minQuantity: 2,
      maxQuantity: null,
      deadline: new Date(Date.now() + 48 * H),
      tiers: [{ fromQuantity: 0, unitPrice: 3990 }],
      perFanLimit: 3,
      texts: {
        it: { title: 'Jeans con gli amici', description: '' },
        en: { title: 'Jeans with friends', description: '' },
      },
    });
    if (!created.ok) throw new Error(JSON.stringify(created));
    const campaignId = created.campaign.id;
    expect((await openCampaign(gctx, campaignId)).ok).to.equal(true);

    const a = await newFan();
    await FanModel.updateOne(
      { pageId: t.pageId, psid: a },
      { $set: { firstName: 'Anna', lastName: 'Bianchi' } },
    );
    // The campaign's Invite button gives A's link for this campaign.
    const campaignRef = await linkOf(a, `ref.gb:v1:${campaignId}`);
    expect(campaignRef).to.match(/^r_[a-z2-9]{8}_INVITE1$/);
    const generalRef = await linkOf(a);

    // B: new thread through the campaign link → greeting, then the campaign's card with Join.
    const b = newPsid();
    const sentB = await getStarted(b, campaignRef, 5);
    expect(textOf(sentB[0])).to.match(/^Ciao/);
    const card = sentB.find(
      (m) => m.message.attachment?.payload.elements?.[0]?.title === 'Jeans con gli amici',
    );
    expect(card!.message.attachment!.payload.elements![0]!.buttons![0]!.payload).to.equal(
      `gb.join:v1:${campaignId}`,
    );
    expect(await record(b, campaignId)).to.deep.include({ referrerPsid: a, decision: 'attributed' });

    // A was inside their 24 h window: told at once (purpose reminder → UPDATE).
    const told = await waitFor(() =>
      (t.fakeGraph.messagesTo(a) as unknown as Sent[]).find((m) =>
        textOf(m).includes('è arrivato con il tuo link'),
      ),
    );
    expect(told.messagingType).to.equal('UPDATE');

    // C: existing thread through the general link.
    const c = await newFan();
    await openLink(c, generalRef, 2);
    expect(await record(c)).to.deep.include({ referrerPsid: a, decision: 'attributed' });

    // Both join; C's join tips the campaign: one order per pledge, each with a payment link.
    await tap(b, `gb.qty:v1:${campaignId}:RF1-S:1`);
    await tap(c, `gb.qty:v1:${campaignId}:RF1-S:1`, 2);
    const orders = await waitFor(async () => {
      const o = await OrderModel.find({ pageId: t.pageId, 'source.campaignId': campaignId }).lean();
      return o.length === 2 && o;
    });
    expect(await balance({ pageId: t.pageId }, a, 'EUR')).to.equal(0); // nothing before payment
    // Their pledges say how they came: B by the campaign's invite, C by A's general link.
    const pledges = await PledgeModel.find({ psid: { $in: [b, c] } }).lean();
    const sourceOf = (psid: string) => pledges.find((p) => p.psid === psid)?.source;
    expect(sourceOf(b)).to.deep.include({ type: 'referral' });
    expect(sourceOf(c)).to.deep.include({ type: 'referral', ref: generalRef });
    for (const o of orders) {
      const res = await fetch(`${t.app.url}/orders/${o.token}/pay`, { method: 'POST', redirect: 'manual' });
      expect(res.status).to.equal(303);
    }
    expect(await balance({ pageId: t.pageId }, a, 'EUR')).to.equal(1000);
    expect(await balance({ pageId: t.pageId }, b, 'points')).to.equal(20);
    expect(await balance({ pageId: t.pageId }, c, 'points')).to.equal(20);

    const leaders = await campaignLeaders({ pageId: t.pageId }, campaignId);
    expect(leaders).to.deep.equal([{ rank: 1, referrerPsid: a, name: 'A. B.', invitees: 2, conversions: 2 }]);
    expect(await campaignReach({ pageId: t.pageId }, campaignId)).to.deep.include({
      invitees: 2,
      secondLevel: 0,
      conversions: 2,
      referrers: 1,
    });

    // A sees it in Messenger: my invites, then opts in to show their name on the leaderboard.
    const [mine] = await tap(a, 'ref.mine:v1');
    expect(textOf(mine))
      .to.contain('Amici arrivati con il tuo link: 2')
      .and.to.contain('Amici che hanno acquistato: 2');
    expect(textOf(mine)).to.contain('Premi guadagnati: 10,00\u00a0€ · saldo: 10,00\u00a0€');
    await tap(a, 'ref.name:v1:on', 2);
    const [board] = await tap(b, `ref.lead:v1:${campaignId}`);
    expect(textOf(board)).to.contain('1. Anna B. — 2 amici');

    // A cancelled order takes its reward back.
    const paidOrder = orders.find((o) => o.psid === b)!;
    await transitionOrder(
      { pageId: t.pageId, now: new Date(), config: t.config },
      String(paidOrder._id),
      'cancelled',
      {
        type: 'manager',
        id: 'm1',
      },
    );
    expect(await balance({ pageId: t.pageId }, a, 'EUR')).to.equal(500);
  });

  it('a referrer outside their window hears about the friend on their next visit', async () => {
    const a = await newFan();
    const ref = await linkOf(a);
    await FanModel.updateOne(
      { pageId: t.pageId, psid: a },
      { $set: { lastInteractionAt: new Date(Date.now() - 25 * H) } },
    );
    const b = newPsid();
    await getStarted(b, ref, 3);
    await new Promise((r) => setTimeout(r, 300));
    expect(
      (t.fakeGraph.messagesTo(a) as unknown as Sent[]).some((m) => textOf(m).includes('con il tuo link')),
    ).to.equal(false);
    const sent = await exchange(a, () => t.say(a, 'menu'), 2);
    expect(textOf(sent[0])).to.contain('Mentre eri via è arrivato 1 amico con il tuo link');
    expect(sent[1]!.message.quick_replies).to.be.an('array');
  });
});
