import { expect } from 'chai';
import { createCampaign, openCampaign, getCampaignBySlug } from '../../src/app/groupbuy.js';
import { messagingBody, postbackEvent } from '../../src/dev/webhook-payloads.js';
import { FanModel } from '../../src/db/models/fan.js';
import { PledgeModel } from '../../src/db/models/pledge.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

interface Sent {
  messagingType?: string;
  tag?: string;
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
          image_url?: string;
          buttons?: { title: string; payload?: string }[];
        }[];
        buttons?: { title: string; payload?: string; url?: string }[];
      };
    };
  };
}

const H = 60 * 60 * 1000;
const isTipping = (m: Sent) => (m.message.attachment?.payload.text ?? '').includes('🎉');

describe('group buys: Messenger flows through the webhook (end to end)', function () {
  this.timeout(60_000);
  let t: TestApp;
  let n = 0;

  before(async () => {
    t = await startTestApp(); // simulator mode on an empty database: demo catalogue and demo group buys
  });
  after(async () => {
    await t?.stop();
  });

  const exchange = (psid: string, act: () => Promise<unknown>, count = 1) =>
    t.exchange<Sent>(psid, act, count);
  const say = (psid: string, text: string, count = 1) => exchange(psid, () => t.say(psid, text), count);
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
  const newFan = async () => {
    const psid = `40000000000000${String(++n).padStart(2, '0')}`;
    await say(psid, 'ciao', 3);
    return psid;
  };

  it('npm start data: three open demo group buys as cards with true progress, and their posts in the simulator', async () => {
    const psid = await newFan();
    const [menu] = await say(psid, 'menu');
    expect(menu!.message.quick_replies!.map((q) => q.payload)).to.include('gb:v1');
    const [intro, cards, nav] = await tap(psid, 'gb:v1', 3);
    expect(intro!.message.text).to.contain('Acquisti di gruppo');
    const elements = cards!.message.attachment!.payload.elements!;
    expect(elements.map((e) => e.title)).to.have.length(3);
    const jeans = elements.find((e) => e.title.startsWith('Jeans Slim Indaco'))!;
    expect(jeans.subtitle).to.match(/^22\/25 · ancora 3 · 2 giorni\n64,90\u00a0€ a testa$/);
    expect(jeans.image_url).to.match(/^http:\/\/.*\/static\/demo\/jeans-indigo\.svg$/);
    expect(jeans.buttons!.map((b) => b.title)).to.deep.equal(['Partecipa', 'Dettagli', 'Invita amici']);
    const tee = elements.find((e) => e.title.startsWith('T-shirt'))!;
    expect(tee.subtitle).to.contain('24,90\u00a0€ → 19,90\u00a0€ da 20');
    for (const e of elements) expect([...(e.subtitle ?? '')].length).to.be.at.most(80);
    expect(nav!.message.quick_replies!.map((q) => q.payload)).to.include('gb.mine:v1');

    // Counts come from real pledge documents.
    const c = await getCampaignBySlug({ pageId: t.pageId }, 'JEANS25');
    expect(await PledgeModel.countDocuments({ campaignId: c!.id, state: 'active' })).to.equal(22);

    const res = await fetch(`${t.app.url}/simulator/api/posts`);
    const body = (await res.json()) as { posts: { id: string; message: string; imageUrl: string | null }[] };
    // Three group-buy posts and the demo co-design proposal's post.
    expect(body.posts).to.have.length(4);
    expect(body.posts.map((p) => p.message).join(' ')).to.contain('JEANS25');
    expect(body.posts.map((p) => p.id)).to.include(`${t.pageId}_900000000004`);
  });

  it('Join → variant (in stock only) → quantity (≤ per-fan limit) → joined with progress and Leave; twice is one pledge; Leave', async () => {
    const psid = await newFan();
    const c = (await getCampaignBySlug({ pageId: t.pageId }, 'TEE3'))!;
    const [variants] = await tap(psid, `gb.join:v1:${c.id}`);
    expect(variants!.message.quick_replies!.map((q) => q.payload)).to.deep.equal([
      `gb.var:v1:${c.id}:DL-T01-BIA-S`,
      `gb.var:v1:${c.id}:DL-T01-BIA-M`,
      `gb.var:v1:${c.id}:DL-T01-BIA-L`, // XL is out of stock
    ]);
    const [qty] = await tap(psid, `gb.var:v1:${c.id}:DL-T01-BIA-M`);
    expect(qty!.message.quick_replies!.map((q) => q.title)).to.deep.equal(['1', '2', '3', '4', '5']);
    const [joined] = await tap(psid, `gb.qty:v1:${c.id}:DL-T01-BIA-M:2`);
    expect(joined!.message.attachment!.payload.text).to.equal(
      'Ci sei! 2 × T-shirt Logo: più siamo, meno costa (M · Bianco). Adesioni: 9/10 · ne manca 1 · 4 giorni.',
    );
    expect(joined!.message.attachment!.payload.buttons!.map((b) => b.payload)).to.include(
      `gb.leave:v1:${c.id}`,
    );
    const [again] = await tap(psid, `gb.qty:v1:${c.id}:DL-T01-BIA-M:2`);
    expect(again!.message.attachment!.payload.text).to.contain('Partecipi già con 2 pezzi');
    expect(await PledgeModel.countDocuments({ campaignId: c.id, psid })).to.equal(1);

    const [mine] = await say(psid, 'i miei acquisti di gruppo', 2);
    expect(mine!.message.attachment!.payload.elements![0]!.subtitle).to.match(/^2 × M · Bianco · 9\/10/);

    const [left] = await tap(psid, `gb.leave:v1:${c.id}`);
    expect(left!.message.text).to.contain('Sei uscito');
    expect((await getCampaignBySlug({ pageId: t.pageId }, 'TEE3'))!.committed).to.equal(7);
  });

  it('a stale or unknown campaign gets "that offer has changed" and the current list', async () => {
    const psid = await newFan();
    const [stale] = await tap(psid, 'gb.join:v1:0123456789abcdef01234567', 3);
    expect(stale!.message.text).to.contain("Quell'offerta è cambiata");
  });

  it('joins via postbacks until the threshold: every participant hears about the tipping exactly once, at the tier price; outside the window under POST_PURCHASE_UPDATE', async () => {
    const ctx = { pageId: t.pageId, now: new Date(), config: t.config };
    const created = await createCampaign(ctx, {
      slug: 'E2ETIP',
      productSku: 'DL-J02',
      variantSku: 'DL-J02-AZZ-32',
      minQuantity: 4,
      maxQuantity: null,
      deadline: new Date(Date.now() + 30 * H),
      tiers: [
        { fromQuantity: 0, unitPrice: 5990 },
        { fromQuantity: 4, unitPrice: 4990 },
      ],
      perFanLimit: 2,
      texts: {
        it: { title: 'Stone insieme', description: '' },
        en: { title: 'Stone together', description: '' },
      },
    });
    if (!created.ok) throw new Error('create');
    const id = created.campaign.id;
    await openCampaign(ctx, id);

    const fans = [await newFan(), await newFan(), await newFan()];
    // The first participant joins, then goes quiet for 25 hours: their window closes.
    await tap(fans[0]!, `gb.qty:v1:${id}:DL-J02-AZZ-32:1`);
    const old = new Date(Date.now() - 25 * H);
    await FanModel.updateOne({ pageId: t.pageId, psid: fans[0] }, { $set: { lastInteractionAt: old } });
    t.fakeGraph.noteUserInteraction(t.pageId, fans[0]!, old);

    await tap(fans[1]!, `gb.qty:v1:${id}:DL-J02-AZZ-32:1`);
    // Two units from the last fan cross the threshold (4): the reply, "you made it tip", then the link.
    const last = await tap(fans[2]!, `gb.qty:v1:${id}:DL-J02-AZZ-32:2`, 3);
    expect(last[0]!.message.attachment!.payload.text).to.contain('Ci sei! 2 ×');
    expect(last[1]!.message.text).to.contain('Con te si è raggiunto il minimo');
    expect(isTipping(last[2]!)).to.equal(true);

    for (const psid of fans) {
      await waitFor(() => (t.fakeGraph.messagesTo(psid) as unknown as Sent[]).some(isTipping));
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const [i, psid] of fans.entries()) {
      const tipping = (t.fakeGraph.messagesTo(psid) as unknown as Sent[]).filter(isTipping);
      expect(tipping, psid).to.have.length(1);
      const text = tipping[0]!.message.attachment!.payload.text!;
      expect(text).to.contain('49,90\u00a0€ al pezzo');
      expect(text).to.contain(i === 2 ? '2 pezzi = 99,80\u00a0€' : '1 pezzo = 49,90\u00a0€');
      expect(tipping[0]!.message.attachment!.payload.buttons![0]!.url).to.match(/\/orders\//);
      if (i === 0) {
        expect(tipping[0]!.messagingType).to.equal('MESSAGE_TAG');
        expect(tipping[0]!.tag).to.equal('POST_PURCHASE_UPDATE');
      } else {
        expect(tipping[0]!.messagingType).to.not.equal('MESSAGE_TAG');
      }
    }
    const pledges = await PledgeModel.find({ campaignId: id }).lean();
    expect(pledges.map((p) => p.priceAtTipping)).to.deep.equal([4990, 4990, 4990]);
    expect(pledges.every((p) => p.orderId !== null)).to.equal(true);
  });
});
