import { runProposalJanitor } from '../app/proposals.js';
import { runFeedbackRequests } from '../app/reviews.js';
import type { JobDefinition } from './types.js';

/**
 * Proposals: deadlines (the leader wins, or the proposal expires), decisions whose campaign or
 * invitations are unfinished (all keyed: nothing twice), vote changes left in flight by a crash, and
 * a version-checked recount of the tallies. Driven by state.
 */
export function proposalsJob(): JobDefinition {
  return {
    id: 'proposals',
    schedule: '* * * * *',
    description:
      'Decides proposals at their deadline, finishes decisions (campaign, invitations), recounts tallies',
    async run(ctx) {
      const r = await runProposalJanitor({
        pageId: ctx.page.id,
        now: ctx.now,
        config: ctx.config,
        log: ctx.log,
      });
      if (r.decided + r.expired + r.reconciled > 0) ctx.log.info(r, 'proposals janitor');
      return { summary: { ...r } };
    },
  };
}

/**
 * One feedback request per delivered order (`fb:<orderId>`, purpose `feedback_request`), only while
 * the fan is inside the 24 h window; recorded as refused once the order was delivered a week ago.
 */
export function feedbackRequestsJob(): JobDefinition {
  return {
    id: 'feedback-requests',
    schedule: '*/10 * * * *',
    description: 'Asks buyers of delivered orders for a rating, once, inside the 24 h window',
    async run(ctx) {
      const r = await runFeedbackRequests({
        pageId: ctx.page.id,
        now: ctx.now,
        config: ctx.config,
        log: ctx.log,
      });
      if (r.queued + r.refused > 0) ctx.log.info(r, 'feedback requests');
      return { summary: { ...r } };
    },
  };
}
