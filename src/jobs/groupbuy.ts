import {
  closeDueCampaigns,
  reconcile,
  sendDeadlineReminders,
  tipSafetyNet,
  type ReminderOptions,
} from '../app/groupbuy-lifecycle.js';
import type { GroupBuyContext } from '../app/groupbuy.js';
import type { JobContext, JobDefinition } from './types.js';

/**
 * Group buys as jobs. Each run asks the database what is due at the run's `now` (deadlines passed,
 * thresholds crossed without an announcement, reminder offsets reached, joins that died midway), so a
 * missed tick is caught up by the next one and a doubled run sends nothing twice (outbox keys).
 */
function groupBuyContext(ctx: JobContext): GroupBuyContext {
  return {
    pageId: ctx.page.id,
    now: ctx.now,
    config: {
      publicUrl: ctx.config.publicUrl,
      paymentUrlTemplate: ctx.config.paymentUrlTemplate,
      defaultLocale: ctx.config.defaultLocale,
    },
  };
}

export function groupBuyDeadlinesJob(): JobDefinition {
  return {
    id: 'groupbuy-deadlines',
    schedule: '* * * * *',
    description:
      'At the deadline: tipped group buys close (waitlist released and told), open ones fail (pledges released, participants told)',
    async run(ctx) {
      const r = await closeDueCampaigns(groupBuyContext(ctx));
      if (r.closed + r.failed > 0) ctx.log.info(r, 'group buys closed at their deadline');
      return { summary: { ...r } };
    },
  };
}

export function groupBuySafetyNetJob(): JobDefinition {
  return {
    id: 'groupbuy-safety-net',
    schedule: '* * * * *',
    description:
      'Tips open group buys at their minimum, resumes tipping announcements that did not reach everyone, applies tier changes',
    async run(ctx) {
      const r = await tipSafetyNet(groupBuyContext(ctx));
      if (r.tipped + r.reannounced + r.repriced > 0) ctx.log.info(r, 'group-buy safety net acted');
      return { summary: { ...r } };
    },
  };
}

export function groupBuyRemindersJob(opts: ReminderOptions = {}): JobDefinition {
  return {
    id: 'groupbuy-reminders',
    schedule: '*/10 * * * *',
    description: 'Reminds participants of open group buys before the deadline (inside the 24 h window only)',
    async run(ctx) {
      const r = await sendDeadlineReminders(groupBuyContext(ctx), opts);
      return { summary: { ...r } };
    },
  };
}

export function groupBuyReconcileJob(): JobDefinition {
  return {
    id: 'groupbuy-reconcile',
    schedule: '*/5 * * * *',
    description:
      'Finishes group-buy joins that died midway and recounts, promotes the waitlist, opens next batches',
    async run(ctx) {
      const r = await reconcile(groupBuyContext(ctx));
      return { summary: { ...r } };
    },
  };
}

export function groupBuyJobs(opts: { readonly reminders?: ReminderOptions } = {}): JobDefinition[] {
  return [
    groupBuyDeadlinesJob(),
    groupBuySafetyNetJob(),
    groupBuyRemindersJob(opts.reminders),
    groupBuyReconcileJob(),
  ];
}
