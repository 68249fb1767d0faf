import {
  castVote,
  confirmCommentVote,
  getProposal,
  listVotingProposals,
  myVote,
  optionName,
  proposalTitle,
  setNotifyWhenMade,
  standingsText,
  type ProposalContext,
  type ProposalView,
  type VoteResult,
} from '../src/app/proposals.js';
import { timeLeft } from '../src/domain/groupbuy.js';
import { buildPayload } from '../src/domain/text-match.js';
import {
  carousel,
  postback,
  quickReplies,
  text,
  truncate,
  type CarouselElementInput,
  type QuickReplyInput,
} from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn } from '../src/messenger/turn.js';
import { registerFeedbackFlow } from './feedback.js';

/** Payloads of the co-design conversation. Proposal ids are ObjectIds; option ids are slugs (no ":"). */
export const CODESIGN_PAYLOADS = {
  list: buildPayload('cd'),
  show: (proposalId: string) => buildPayload('cd.show', [proposalId]),
  vote: (proposalId: string, optionId: string) => buildPayload('cd.vote', [proposalId, optionId]),
  notify: (proposalId: string) => buildPayload('cd.notify', [proposalId]),
  /** The Confirm button of a comment vote's private reply (src/app/proposals.ts). */
  confirmComment: (commentId: string) => buildPayload('cd.cvote', [commentId]),
} as const;

export const CODESIGN_PHRASES = [
  'vota',
  'vote',
  'voto',
  'votare',
  'proposte',
  'proposals',
  'sondaggio',
  'poll',
];

const MAX_PROPOSALS = 10;

function proposalContext(turn: Turn): ProposalContext {
  return { pageId: turn.pageId, now: turn.now, config: turn.config, log: turn.log };
}

function absoluteUrl(turn: Turn, url: string | null): string | undefined {
  if (!url) return undefined;
  return url.startsWith('/') ? `${turn.config.publicUrl}${url}` : url;
}

function timeText(turn: Turn, p: ProposalView): string {
  const left = timeLeft(p.deadline, turn.now);
  return left.expired
    ? turn.t('groupbuy.time.expired')
    : turn.t(`groupbuy.time.${left.unit}`, { count: left.count });
}

/** One card per option (≤ 10): its true tally, the threshold, time left, and a Vote button. */
function optionCards(turn: Turn, p: ProposalView, mine: string | undefined): CarouselElementInput[] {
  return p.options.slice(0, 10).map((o) => {
    const image = absoluteUrl(turn, o.imageUrl);
    const votes = turn.t('codesign.votes', { count: o.tally });
    const line = turn.t('codesign.card', { votes, threshold: p.threshold, time: timeText(turn, p) });
    return {
      title: truncate(`${o.id === mine ? '✓ ' : ''}${optionName(o, turn.locale)}`, 80),
      subtitle: truncate(line, 80),
      ...(image ? { imageUrl: image } : {}),
      buttons: [postback(truncate(turn.t('codesign.vote_button'), 20), CODESIGN_PAYLOADS.vote(p.id, o.id))],
    };
  });
}

function navigation(
  turn: Turn,
  prompt: string,
  others: readonly ProposalView[],
  extra: QuickReplyInput[] = [],
) {
  return quickReplies(prompt, [
    ...extra,
    ...others.slice(0, 13 - extra.length - 1).map((o) => ({
      title: truncate(proposalTitle(o, turn.locale) || o.code, 20),
      payload: CODESIGN_PAYLOADS.show(o.id),
    })),
    { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
  ]);
}

async function showProposal(turn: Turn, p: ProposalView, others: readonly ProposalView[]): Promise<void> {
  const mine = await myVote(turn, p.id, turn.psid);
  const intro = turn.t('codesign.proposal', {
    title: proposalTitle(p, turn.locale),
    description: p.texts[turn.locale].description || p.texts.it.description || p.texts.en.description,
  });
  turn.say(text(truncate(intro.trim(), 2000)));
  turn.say(carousel(optionCards(turn, p, mine?.optionId)));
  turn.say(
    navigation(
      turn,
      truncate(turn.t('codesign.standings', { standings: standingsText(p, turn.locale) }), 2000),
      others.filter((o) => o.id !== p.id),
    ),
  );
}

/** "Vota" / "Vote": the open proposals, the first one as cards. */
export async function showProposals(turn: Turn, intro?: string, focusId?: string): Promise<void> {
  const open = await listVotingProposals(turn, { limit: MAX_PROPOSALS });
  if (open.length === 0) {
    turn.say(
      quickReplies(intro ?? turn.t('codesign.none'), [
        { title: truncate(turn.t('menu.groupbuys'), 20), payload: buildPayload('gb') },
        { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
      ]),
    );
    return;
  }
  if (intro) turn.say(text(intro));
  const first = open.find((p) => p.id === focusId) ?? open[0]!;
  await showProposal(turn, first, open);
}

async function show(turn: Turn, id: string): Promise<void> {
  const p = await getProposal(turn, id);
  if (!p || p.state !== 'voting' || p.deadline.getTime() <= turn.now.getTime()) {
    await showProposals(turn, turn.t('codesign.stale'));
    return;
  }
  await showProposals(turn, undefined, p.id);
}

/** What the fan hears after a vote: what was counted, the live standings, and "tell me when it's made". */
async function replyToVote(turn: Turn, result: VoteResult, optionId: string): Promise<void> {
  if (!result.ok) {
    if (result.code === 'busy') turn.say(text(turn.t('codesign.busy')));
    else await showProposals(turn, turn.t(result.code === 'closed' ? 'codesign.closed' : 'codesign.stale'));
    return;
  }
  const p = result.proposal;
  const option = p.options.find((o) => o.id === optionId);
  const vars = {
    option: option ? optionName(option, turn.locale) : optionId,
    title: proposalTitle(p, turn.locale),
    standings: standingsText(p, turn.locale),
  };
  const lines = [turn.t(`codesign.${result.code}`, vars)];
  if (result.decidedNow) lines.push(turn.t('codesign.decided_now', vars));
  const others = (await listVotingProposals(turn, { limit: MAX_PROPOSALS })).filter((o) => o.id !== p.id);
  turn.say(
    navigation(turn, truncate(lines.join('\n\n'), 2000), others, [
      { title: truncate(turn.t('codesign.notify_button'), 20), payload: CODESIGN_PAYLOADS.notify(p.id) },
    ]),
  );
}

async function vote(turn: Turn, proposalId: string, optionId: string): Promise<void> {
  const result = await castVote(proposalContext(turn), {
    proposalId,
    psid: turn.psid,
    optionId,
    source: 'messenger',
  });
  await replyToVote(turn, result, optionId);
}

async function notify(turn: Turn, proposalId: string): Promise<void> {
  const res = await setNotifyWhenMade(proposalContext(turn), proposalId, turn.psid);
  if (!res.ok) {
    await showProposals(turn, turn.t('codesign.notify_needs_vote'));
    return;
  }
  const p = await getProposal(turn, proposalId);
  const mine = await myVote(turn, proposalId, turn.psid);
  const option = p?.options.find((o) => o.id === mine?.optionId);
  turn.say(
    quickReplies(turn.t('codesign.notify_saved', { option: option ? optionName(option, turn.locale) : '' }), [
      { title: truncate(turn.t('codesign.menu'), 20), payload: CODESIGN_PAYLOADS.list },
      { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
    ]),
  );
}

async function confirmComment(turn: Turn, commentId: string): Promise<void> {
  const res = await confirmCommentVote(proposalContext(turn), commentId, turn.psid);
  if (!res.ok) {
    await showProposals(turn, turn.t('codesign.comment_vote_missing'));
    return;
  }
  const mine = res.vote.ok ? await myVote(turn, res.vote.proposal.id, turn.psid) : undefined;
  await replyToVote(turn, res.vote, mine?.optionId ?? '');
}

/** Registers the co-design conversation (and the buyers' feedback). Register it before the shop and start flows. */
export function registerCodesignFlow(router: FlowRouter): void {
  router
    .payload('cd', async (turn) => showProposals(turn))
    .payload('cd.show', async (turn, p) => show(turn, p.args[0] ?? ''))
    .payload('cd.vote', async (turn, p) => vote(turn, p.args[0] ?? '', p.args[1] ?? ''))
    .payload('cd.notify', async (turn, p) => notify(turn, p.args[0] ?? ''))
    .payload('cd.cvote', async (turn, p) => confirmComment(turn, p.args[0] ?? ''))
    .text(CODESIGN_PHRASES, async (turn) => showProposals(turn));
  registerFeedbackFlow(router);
}
