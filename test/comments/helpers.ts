import { upsertProduct } from '../../src/app/catalog.js';
import { createCampaign, linkPost, openCampaign, type CampaignInput } from '../../src/app/groupbuy.js';
import type { FakeGraph } from '../../src/dev/fake-graph/index.js';
import {
  changesBody,
  commentChange,
  messagingBody,
  newCommentId,
  newNumericId,
  postbackEvent,
  type WebhookBody,
} from '../../src/dev/webhook-payloads.js';
import type { TestApp } from '../support/app.js';
import { sampleProduct } from '../shop/helpers.js';

let n = 0;

export function campaignInput(over: Partial<CampaignInput> = {}): CampaignInput {
  return {
    slug: `CM${Date.now().toString(36).toUpperCase()}${++n}`,
    productSku: 'CP1',
    variantSku: null,
    minQuantity: 25,
    maxQuantity: null,
    deadline: new Date(Date.now() + 3 * 24 * 3600_000),
    tiers: [
      { fromQuantity: 0, unitPrice: 4990 },
      { fromQuantity: 25, unitPrice: 3990 },
    ],
    perFanLimit: 3,
    texts: {
      it: { title: 'Jeans insieme', description: 'Denim italiano' },
      en: { title: 'Jeans together', description: 'Italian denim' },
    },
    ...over,
  };
}

/** A product, an open campaign on it, and a Page post linked to the campaign. */
export async function openCampaignWithPost(
  t: TestApp,
  over: Partial<CampaignInput> = {},
): Promise<{ campaignId: string; postId: string; slug: string }> {
  const ctx = { pageId: t.pageId, now: new Date(), config: t.config };
  await upsertProduct({ pageId: t.pageId }, sampleProduct('CP1'));
  const input = campaignInput(over);
  const created = await createCampaign(ctx, input);
  if (!created.ok) throw new Error(`create failed: ${JSON.stringify(created)}`);
  const opened = await openCampaign(ctx, created.campaign.id);
  if (!opened.ok) throw new Error(`open failed: ${JSON.stringify(opened)}`);
  const postId = `${t.pageId}_${newNumericId(12)}`;
  const linked = await linkPost(ctx, created.campaign.id, {
    postId,
    message: `Jeans insieme! #${input.slug}`,
  });
  if (!linked.ok) throw new Error('link failed');
  return { campaignId: created.campaign.id, postId, slug: input.slug };
}

export interface Commenter {
  readonly fromId: string;
  readonly name: string;
  readonly psid: string;
}

export function commenter(i: number): Commenter {
  return { fromId: `10${String(1000000 + i)}`, name: `Fan ${i}`, psid: `71${String(100000000 + i)}` };
}

/** Meta learns of the comment (so private replies work), and the feed change it would send. */
export function commentBody(
  t: TestApp,
  o: {
    postId: string;
    who: Commenter | { fromId: string; name: string; psid?: string };
    message: string;
    verb?: 'add' | 'edited' | 'remove' | 'hide';
    commentId?: string;
    parentId?: string;
    legacySender?: true;
    createdTime?: number;
  },
): { commentId: string; body: WebhookBody } {
  const commentId = o.commentId ?? newCommentId(o.postId);
  const createdTime = o.createdTime ?? Math.floor(Date.now() / 1000);
  noteComment(t.fakeGraph, t.pageId, commentId, o.postId, o.who, createdTime, o.message);
  const change = commentChange({
    pageId: t.pageId,
    verb: o.verb ?? 'add',
    commentId,
    postId: o.postId,
    ...(o.parentId ? { parentId: o.parentId } : {}),
    from: { id: o.who.fromId, name: o.who.name },
    ...(o.legacySender ? { legacySender: true as const } : {}),
    message: o.message,
    createdTime,
  });
  return { commentId, body: changesBody(t.pageId, change) };
}

function noteComment(
  fake: FakeGraph,
  pageId: string,
  commentId: string,
  postId: string,
  who: { fromId: string; psid?: string },
  createdTime: number,
  message: string,
): void {
  fake.noteComment(pageId, {
    commentId,
    postId,
    fromId: who.fromId,
    createdTime: new Date(createdTime * 1000),
    ...(who.psid ? { psid: who.psid } : {}),
    message,
  });
}

/** The commenter taps a button of the private reply in Messenger. */
export async function tap(t: TestApp, psid: string, payload: string, title = 'Join'): Promise<number> {
  t.fakeGraph.noteUserInteraction(t.pageId, psid, new Date());
  const res = await t.post(
    messagingBody(t.pageId, postbackEvent({ pageId: t.pageId, psid, payload, title })),
  );
  return res.status;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
