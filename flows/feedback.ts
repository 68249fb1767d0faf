import {
  addReviewText,
  FEEDBACK_PAYLOADS,
  orderAwaitingText,
  setShowName,
  stopAwaitingText,
  submitRating,
  type ReviewContext,
} from '../src/app/reviews.js';
import { buildPayload } from '../src/domain/text-match.js';
import { quickReplies, text, truncate } from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn } from '../src/messenger/turn.js';

/**
 * The buyers' feedback: stars tapped on the one request sent after delivery, then an optional
 * sentence (the next typed message, within an hour), then the consent to show the first name.
 */

function reviewContext(turn: Turn): ReviewContext {
  return { pageId: turn.pageId, now: turn.now, config: turn.config, log: turn.log };
}

async function stars(turn: Turn, orderId: string, n: number): Promise<void> {
  const res = await submitRating(reviewContext(turn), { psid: turn.psid, orderId, stars: n });
  if (!res.ok) {
    turn.say(text(turn.t('codesign.feedback.not_allowed')));
    return;
  }
  turn.say(
    quickReplies(turn.t('codesign.feedback.ask_text', { count: n }), [
      {
        title: truncate(turn.t('codesign.feedback.no_thanks'), 20),
        payload: FEEDBACK_PAYLOADS.skip(orderId),
      },
    ]),
  );
}

async function skip(turn: Turn, orderId: string): Promise<void> {
  await stopAwaitingText(reviewContext(turn), turn.psid, orderId);
  turn.say(
    quickReplies(turn.t('codesign.feedback.done'), [
      { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
    ]),
  );
}

/** A typed message right after the stars is the review's sentence; anything else is not ours. */
async function sentence(turn: Turn): Promise<boolean> {
  if (turn.input.type !== 'text') return false;
  const ctx = reviewContext(turn);
  const orderId = await orderAwaitingText(ctx, turn.psid);
  if (!orderId) return false;
  if (!(await addReviewText(ctx, { psid: turn.psid, orderId, text: turn.input.text }))) return false;
  turn.say(
    quickReplies(turn.t('codesign.feedback.show_name_ask'), [
      {
        title: truncate(turn.t('codesign.feedback.yes'), 20),
        payload: FEEDBACK_PAYLOADS.showName(orderId, true),
      },
      {
        title: truncate(turn.t('codesign.feedback.no'), 20),
        payload: FEEDBACK_PAYLOADS.showName(orderId, false),
      },
    ]),
  );
  return true;
}

async function showName(turn: Turn, orderId: string, yes: boolean): Promise<void> {
  await setShowName(reviewContext(turn), { psid: turn.psid, orderId, showName: yes });
  await skip(turn, orderId);
}

export function registerFeedbackFlow(router: FlowRouter): void {
  router
    .payload('fb.stars', async (turn, p) => stars(turn, p.args[0] ?? '', Number(p.args[1])))
    .payload('fb.skip', async (turn, p) => skip(turn, p.args[0] ?? ''))
    .payload('fb.name', async (turn, p) => showName(turn, p.args[0] ?? '', p.args[1] === '1'))
    .freeText('feedback-sentence', sentence);
}
