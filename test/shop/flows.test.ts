import { expect } from 'chai';
import { upsertProduct } from '../../src/app/catalog.js';
import { loadDemoDataIfEmpty } from '../../src/app/demo-data.js';
import { messagingBody, postbackEvent } from '../../src/dev/webhook-payloads.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';
import { sampleProduct } from './helpers.js';

interface Sent {
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
        buttons?: { title: string; payload?: string }[];
      };
    };
  };
}

describe('shop: Messenger flows through the webhook (end to end)', function () {
  let t: TestApp;
  let n = 0;

  before(async () => {
    t = await startTestApp();
    await loadDemoDataIfEmpty(t.pageId);
    // Seven more jeans: the category has twelve, so the carousel needs a "more" card.
    for (let i = 1; i <= 7; i++) {
      await upsertProduct({ pageId: t.pageId }, sampleProduct(`ZZ-${i}`));
    }
  });
  after(async () => {
    await t?.stop();
  });

  /** Sends and waits for `count` new messages to the fan; returns them. */
  const exchange = (psid: string, act: () => Promise<unknown>, count = 1) =>
    t.exchange<Sent>(psid, act, count);
  const say = (psid: string, text: string, count = 1) => exchange(psid, () => t.say(psid, text), count);
  const quick = (psid: string, payload: string, count = 1) =>
    exchange(psid, () => t.say(psid, 'x', { quickReplyPayload: payload }), count);
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
    const psid = `30000000000000${String(++n).padStart(2, '0')}`;
    await say(psid, 'ciao', 3);
    return psid;
  };

  it('"negozio" → categories as quick replies; a category → a carousel of at most 10 (9 + more)', async () => {
    const psid = await newFan();
    const [cats] = await say(psid, 'negozio');
    const qr = cats!.message.quick_replies!;
    expect(qr.map((q) => q.payload)).to.include.members([
      'shop.cat:v1:jeans',
      'shop.cat:v1:tshirt',
      'shop.cat:v1:giacche',
    ]);
    expect(qr.map((q) => q.title)).to.include('Giacche');

    const [page1] = await quick(psid, 'shop.cat:v1:jeans');
    const elements = page1!.message.attachment!.payload.elements!;
    expect(elements).to.have.length(10);
    expect(elements[0]!.subtitle).to.contain('89,90\u00a0€');
    expect(elements[0]!.image_url).to.match(/^http:\/\/.*\/static\/demo\/jeans-indigo\.svg$/);
    expect(elements[0]!.buttons!.map((b) => b.title)).to.deep.equal(['Scegli', 'Dettagli']);
    const more = elements[9]!.buttons![0]!.payload!;
    expect(more).to.match(/^shop\.cat:v1:jeans:/);

    const [page2] = await tap(psid, more);
    const rest = page2!.message.attachment!.payload.elements!;
    expect(rest).to.have.length(3); // 12 jeans: 9 + 3
    expect(rest.map((e) => e.title).join()).to.not.contain('Indaco');
  });

  it('the menu payload opens the shop; the main menu points at it', async () => {
    const psid = await newFan();
    const [menu] = await say(psid, 'menu');
    expect(menu!.message.quick_replies!.map((q) => q.payload)).to.include('shop:v1');
    const [cats] = await quick(psid, 'shop:v1');
    expect(cats!.message.quick_replies!.length).to.be.at.least(3);
  });

  it('choosing a product offers only the variants in stock, then quantities, then adds to the cart', async () => {
    const psid = await newFan();
    const [variants] = await tap(psid, 'shop.product:v1:DL-J01');
    const payloads = variants!.message.quick_replies!.map((q) => q.payload);
    // DL-J01: sizes 28 (3), 30 (5), 32 (0), 34 (4), 36 (2)
    expect(payloads).to.deep.equal([
      'shop.variant:v1:DL-J01-IND-28',
      'shop.variant:v1:DL-J01-IND-30',
      'shop.variant:v1:DL-J01-IND-34',
      'shop.variant:v1:DL-J01-IND-36',
    ]);
    const [qty] = await quick(psid, 'shop.variant:v1:DL-J01-IND-36');
    expect(qty!.message.quick_replies!.map((q) => q.title)).to.deep.equal(['1', '2']); // 2 in stock
    const [added] = await quick(psid, 'shop.qty:v1:DL-J01-IND-36:2');
    expect(added!.message.attachment!.payload.text).to.match(/Aggiunti al carrello: 2 × Jeans Slim Indaco/);

    await quick(psid, 'shop.variant:v1:DL-T01-BIA-M');
    await quick(psid, 'shop.qty:v1:DL-T01-BIA-M:1');

    const [lines, , total] = await say(psid, 'carrello', 2);
    expect(lines!.message.attachment!.payload.elements!.map((e) => e.subtitle)).to.deep.equal([
      '36 · Indaco · 2 × 89,90\u00a0€ = 179,80\u00a0€',
      'M · Bianco · 1 × 24,90\u00a0€ = 24,90\u00a0€',
    ]);
    const summary = (total ?? ((await waitFor(() => t.fakeGraph.messagesTo(psid).at(-1))) as unknown as Sent))
      .message.attachment!.payload;
    expect(summary.text).to.equal('3 articoli, totale 204,70\u00a0€.');
    expect(summary.buttons!.map((b) => b.title)).to.deep.equal([
      'Vai alla cassa',
      'Svuota carrello',
      'Continua lo shopping',
    ]);

    // More than in stock: refused with what is left.
    const [refused] = await quick(psid, 'shop.qty:v1:DL-J01-IND-36:1');
    expect(refused!.message.text).to.match(/solo 2/);
  });

  it('a sold-out product offers no variants; "cerca" searches ignoring accents', async () => {
    const psid = await newFan();
    const [sold] = await tap(psid, 'shop.product:v1:DL-T04');
    expect(sold!.message.text).to.match(/esaurito/);
    const [found, carousel] = await say(psid, 'cerca marinìere', 2);
    expect(found!.message.text).to.equal('Ho trovato 1 prodotto:');
    expect(carousel!.message.attachment!.payload.elements![0]!.title).to.equal('T-shirt a Righe Marinière');
    const [none] = await say(psid, 'cerca smoking', 2);
    expect(none!.message.text).to.match(/Non ho trovato nulla per “smoking”/);
  });

  it('a product typed without any keyword is searched; unknown text still gets the fallback', async () => {
    const psid = await newFan();
    const [found, carousel] = await say(psid, 'Marinière', 2);
    expect(found!.message.text).to.equal('Ho trovato 1 prodotto:');
    expect(carousel!.message.attachment!.payload.elements![0]!.title).to.equal('T-shirt a Righe Marinière');
    const [fallback] = await say(psid, 'qwerty zzz', 2);
    expect(fallback!.message.text).to.equal('Non sono sicuro di aver capito.');
  });

  it('a stale payload gets a friendly answer', async () => {
    const psid = await newFan();
    const [stale] = await tap(psid, 'shop.product:v1:NOPE', 2);
    expect(stale!.message.text).to.match(/cambiata/);
  });
});
