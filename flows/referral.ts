import type { BotWorker } from 'botkit';
import { getProduct } from '../src/app/catalog.js';
import { campaignProgress, campaignTitle, getCampaign, type CampaignView } from '../src/app/groupbuy.js';
import {
  attributeArrival,
  campaignLeaders,
  effectiveRewardConfig,
  inviteLink,
  myInvites,
  setLeaderOptIn,
  takePendingNotices,
  type ArrivalResult,
  type ReferralContext,
} from '../src/app/referrals.js';
import { formatMoney, money } from '../src/domain/money.js';
import { parseRef, POINTS_UNIT, type RewardSpec } from '../src/domain/referral.js';
import { buildPayload } from '../src/domain/text-match.js';
import { carousel, quickReplies, text, truncate, urlButton, postback } from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn, TurnInput } from '../src/messenger/turn.js';
import { GROUPBUY_PAYLOADS, progressText } from './groupbuy.js';
import { mainMenu } from './start.js';

/**
 * Invite friends (micro-affiliates), the fan's side:
 * - arrivals through a personal link: Get Started with `postback.referral` on a new thread (the
 *   attribution happens first, then the same turn goes on to the start flow's greeting, then the
 *   campaign's card for a campaign link) and `messaging_referrals` on an existing thread;
 * - "Invite friends" (menu, group-buy cards): a forwardable card with the fan's m.me link;
 * - "my invites": friends who joined, purchases under way, rewards earned and the balance;
 * - leaders of a campaign (initials unless the fan opts in to show their first name);
 * - friends who joined while the referrer was away are announced on the referrer's next turn that
 *   reaches the start flow (the notice could not be sent outside their 24 h window).
 * Registered just before the start flow.
 */

export const REFERRAL_PAYLOADS = {
  invite: buildPayload('ref'),
  mine: buildPayload('ref.mine'),
  campaign: (campaignId: string) => buildPayload('ref.gb', [campaignId]),
  leaders: (campaignId: string) => buildPayload('ref.lead', [campaignId]),
  showName: (on: boolean) => buildPayload('ref.name', [on ? 'on' : 'off']),
} as const;

export const INVITE_PHRASES = [
  'invita amici',
  'invita un amico',
  'invita i tuoi amici',
  'invita',
  'il mio link',
  'invite friends',
  'invite a friend',
  'invite',
  'my link',
];
export const MY_INVITES_PHRASES = ['i miei inviti', 'miei inviti', 'my invites', 'my referrals'];

const ours = (ref: string | undefined) => ref !== undefined && parseRef(ref) !== undefined;

function referralContext(turn: Turn): ReferralContext {
  return { pageId: turn.pageId, now: turn.now, config: turn.config, log: turn.log };
}

/** Inputs already seen by this flow's pre-steps (a re-dispatched turn carries a fresh input object). */
const passedOn = new WeakSet<TurnInput>();

/** The same turn (same fan, same outbox keys), routed again as `input`. */
async function passOn(
  router: FlowRouter,
  turn: Turn,
  input: TurnInput,
  bot: BotWorker | undefined,
): Promise<void> {
  passedOn.add(input);
  const next = Object.create(turn, { input: { value: input, enumerable: true } }) as Turn;
  await router.dispatch(next, bot);
}

async function attribute(turn: Turn, ref: string, source: string): Promise<ArrivalResult> {
  return attributeArrival(referralContext(turn), {
    inviteePsid: turn.psid,
    ref,
    source,
    eventKey: turn.eventKey,
  });
}

function rewardText(turn: Turn, spec: RewardSpec, currency = 'EUR'): string {
  switch (spec.kind) {
    case 'credit':
      return turn.t('referral.reward.credit', {
        amount: formatMoney(money(spec.amount, currency), turn.locale),
      });
    case 'percent':
      return turn.t('referral.reward.percent', { percent: spec.percent });
    case 'points':
      return turn.t('referral.reward.points', { count: spec.points });
  }
}

function unitText(turn: Turn, amount: number, unit: string): string {
  return unit === POINTS_UNIT
    ? turn.t('referral.reward.points', { count: amount })
    : formatMoney(money(amount, unit), turn.locale);
}

/** The campaign a fan may still join, or undefined. */
async function liveCampaign(turn: Turn, id: string): Promise<CampaignView | undefined> {
  if (!/^[a-f0-9]{24}$/i.test(id)) return undefined;
  const c = await getCampaign(turn, id);
  return c && ['open', 'tipped'].includes(c.state) && c.deadline.getTime() > turn.now.getTime()
    ? c
    : undefined;
}

function absolute(turn: Turn, url: string | undefined): string | undefined {
  if (!url) return undefined;
  return url.startsWith('/') ? `${turn.config.publicUrl}${url}` : url;
}

/** A campaign's card for a friend who arrived through its link: Join, Details, and their own Invite. */
async function showCampaign(turn: Turn, c: CampaignView, intro: string): Promise<void> {
  const product = await getProduct(turn, c.productSku);
  const image = absolute(turn, product?.images[0]);
  turn.say(text(intro));
  turn.say(
    carousel([
      {
        title: truncate(campaignTitle(c, turn.locale, product), 80),
        subtitle: truncate(progressText(turn, campaignProgress(turn, c)), 80),
        ...(image ? { imageUrl: image } : {}),
        buttons: [
          postback(turn.t('groupbuy.join'), GROUPBUY_PAYLOADS.join(c.id)),
          postback(turn.t('groupbuy.details_button'), GROUPBUY_PAYLOADS.details(c.id)),
          postback(turn.t('groupbuy.invite'), REFERRAL_PAYLOADS.campaign(c.id)),
        ],
      },
    ]),
  );
}

/** What the friend is offered on arrival (two-sided rewards), if anything. */
async function welcomeOffer(turn: Turn, campaignId: string | undefined): Promise<string | undefined> {
  const config = await effectiveRewardConfig(turn.pageId, campaignId);
  return config?.friend
    ? turn.t('referral.welcome_offer', { reward: rewardText(turn, config.friend) })
    : undefined;
}

/** After the greeting of a fan who came through a link: their welcome offer, the campaign's card. */
async function afterArrival(turn: Turn, result: ArrivalResult): Promise<void> {
  if (!result.ours) return;
  const campaign = result.campaign ? await liveCampaign(turn, result.campaign.id) : undefined;
  const offer = result.attributed ? await welcomeOffer(turn, campaign?.id) : undefined;
  if (campaign) {
    await showCampaign(turn, campaign, offer ?? turn.t('referral.campaign_intro'));
    return;
  }
  if (offer) turn.say(text(offer));
}

/** The forwardable card with the fan's link, for the page or for one campaign. */
async function showInvite(turn: Turn, campaignId?: string): Promise<void> {
  const ctx = referralContext(turn);
  const c = campaignId ? await liveCampaign(turn, campaignId) : undefined;
  if (campaignId && !c) turn.say(text(turn.t('referral.campaign_gone')));
  const link = await inviteLink(ctx, turn.psid, c?.slug);
  const product = c ? await getProduct(turn, c.productSku) : undefined;
  const image = absolute(turn, product?.images[0]);
  const title = c
    ? turn.t('referral.card.campaign_title', { title: campaignTitle(c, turn.locale, product) })
    : turn.t('referral.card.title', { page: turn.config.facebook.page.name });
  turn.say(text(turn.t('referral.card.intro')));
  turn.say(
    carousel([
      {
        title: truncate(title, 80),
        subtitle: truncate(turn.t(c ? 'referral.card.campaign_subtitle' : 'referral.card.subtitle'), 80),
        ...(image ? { imageUrl: image } : {}),
        defaultActionUrl: link.url,
        buttons: [urlButton(truncate(turn.t('referral.card.open'), 20), link.url)],
      },
    ]),
  );
  const config = await effectiveRewardConfig(turn.pageId, c?.id);
  const lines = [turn.t('referral.card.share', { url: link.url })];
  if (config?.referrer)
    lines.push(turn.t('referral.reward_hint', { reward: rewardText(turn, config.referrer) }));
  if (config?.friend) lines.push(turn.t('referral.friend_hint', { reward: rewardText(turn, config.friend) }));
  turn.say(
    quickReplies(truncate(lines.join('\n\n'), 1999), [
      ...(c
        ? [
            {
              title: truncate(turn.t('referral.leaders_button'), 20),
              payload: REFERRAL_PAYLOADS.leaders(c.id),
            },
          ]
        : []),
      { title: truncate(turn.t('referral.mine_button'), 20), payload: REFERRAL_PAYLOADS.mine },
      { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
    ]),
  );
}

/** "My invites": the link, friends who joined, purchases under way, rewards earned, the balance. */
async function showMine(turn: Turn): Promise<void> {
  const mine = await myInvites(referralContext(turn), turn.psid);
  const lines = [
    turn.t('referral.mine.title'),
    turn.t('referral.mine.friends', { count: mine.friends }),
    turn.t('referral.mine.pending', { count: mine.pending }),
    turn.t('referral.mine.converted', { count: mine.converted }),
  ];
  const rewards = mine.units.filter((u) => u.earned !== 0 || u.balance !== 0 || u.spent !== 0);
  if (rewards.length === 0) lines.push(turn.t('referral.mine.no_rewards'));
  for (const u of rewards) {
    lines.push(
      turn.t('referral.mine.rewards', {
        earned: unitText(turn, u.earned, u.unit),
        balance: unitText(turn, u.balance, u.unit),
      }),
    );
  }
  lines.push(turn.t('referral.mine.link', { url: mine.link.url }));
  lines.push(turn.t(mine.showFirstName ? 'referral.mine.leaders_name' : 'referral.mine.leaders_initials'));
  turn.say(
    quickReplies(truncate(lines.join('\n'), 1999), [
      { title: truncate(turn.t('referral.invite_button'), 20), payload: REFERRAL_PAYLOADS.invite },
      {
        title: truncate(turn.t(mine.showFirstName ? 'referral.show_initials' : 'referral.show_name'), 20),
        payload: REFERRAL_PAYLOADS.showName(!mine.showFirstName),
      },
      { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
    ]),
  );
}

async function showLeaders(turn: Turn, campaignId: string): Promise<void> {
  const c = /^[a-f0-9]{24}$/i.test(campaignId) ? await getCampaign(turn, campaignId) : undefined;
  if (!c) {
    turn.say(text(turn.t('referral.campaign_gone')));
    mainMenu(turn);
    return;
  }
  const leaders = await campaignLeaders(turn, c.id, 10);
  const title = campaignTitle(c, turn.locale, await getProduct(turn, c.productSku));
  const body =
    leaders.length === 0
      ? turn.t('referral.leaders.none', { title })
      : [
          turn.t('referral.leaders.title', { title }),
          ...leaders.map((l) =>
            turn.t('referral.leaders.line', {
              rank: l.rank,
              name: l.name || turn.t('referral.leaders.anonymous'),
              count: l.invitees,
            }),
          ),
        ].join('\n');
  turn.say(
    quickReplies(truncate(body, 1999), [
      { title: truncate(turn.t('referral.invite_button'), 20), payload: REFERRAL_PAYLOADS.campaign(c.id) },
      { title: truncate(turn.t('referral.mine_button'), 20), payload: REFERRAL_PAYLOADS.mine },
      { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
    ]),
  );
}

/** Friends who joined while the fan was away (their window was closed then). */
async function sayPendingNotices(turn: Turn): Promise<void> {
  const names = await takePendingNotices(turn, turn.psid, turn.eventKey);
  if (names.length === 0) return;
  const known = names.filter(Boolean);
  turn.say(
    text(
      known.length > 0
        ? turn.t('referral.notice.while_away_names', { count: names.length, names: known.join(', ') })
        : turn.t('referral.notice.while_away', { count: names.length }),
    ),
  );
}

export function registerReferralFlow(router: FlowRouter): void {
  router
    // New thread: Get Started carrying our ref. Attribute, greet as usual (the same turn, routed on
    // without the ref), then the welcome offer / the campaign's card.
    .when(
      'referral.get_started',
      (input) => input.type === 'postback' && !passedOn.has(input) && ours(input.ref),
      async (turn, bot) => {
        if (turn.input.type !== 'postback' || !turn.input.ref) return;
        const result = await attribute(turn, turn.input.ref, 'SHORTLINK');
        const { payload, title } = turn.input;
        await passOn(router, turn, { type: 'postback', payload, title }, bot);
        await afterArrival(turn, result);
      },
    )
    // Existing thread: a `messaging_referrals` event with our ref.
    .when(
      'referral.link',
      (input) => input.type === 'referral' && ours(input.ref),
      async (turn) => {
        if (turn.input.type !== 'referral') return;
        const result = await attribute(turn, turn.input.ref, turn.input.source);
        await sayPendingNotices(turn);
        const campaign =
          result.ours && result.campaign ? await liveCampaign(turn, result.campaign.id) : undefined;
        if (campaign) {
          const offer = result.ours && result.attributed ? await welcomeOffer(turn, campaign.id) : undefined;
          await showCampaign(turn, campaign, offer ?? turn.t('referral.campaign_intro'));
          return;
        }
        await afterArrival(turn, result);
        mainMenu(turn);
      },
    )
    .payload('ref', async (turn) => showInvite(turn))
    .payload('ref.mine', async (turn) => showMine(turn))
    .payload('ref.gb', async (turn, p) => showInvite(turn, p.args[0] ?? ''))
    .payload('ref.lead', async (turn, p) => showLeaders(turn, p.args[0] ?? ''))
    .payload('ref.name', async (turn, p) => {
      const on = p.args[0] === 'on';
      await setLeaderOptIn(turn, turn.psid, on);
      turn.say(text(turn.t(on ? 'referral.name_on' : 'referral.name_off')));
      await showMine(turn);
    })
    .text(MY_INVITES_PHRASES, async (turn) => showMine(turn))
    .text(INVITE_PHRASES, async (turn) => showInvite(turn))
    // Last: every other turn on its way to the start flow first hears about friends who joined.
    .when(
      'referral.notices',
      (input) => !passedOn.has(input) && input.type !== 'optin',
      async (turn, bot) => {
        await sayPendingNotices(turn);
        await passOn(router, turn, { ...turn.input }, bot);
      },
    );
}
