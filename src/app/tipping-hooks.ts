import { announceTippingOnPosts } from '../comments/service.js';
import { registerTippedHook } from './groupbuy.js';
import { onCampaignTipped as rewardReferrersOnTipping } from './referrals.js';

/**
 * What other features do when a group buy tips, wired once per process by the composition root:
 * one public update under each linked post, and referral rewards configured to trigger on tipping.
 * Both are idempotent (outbox keys, ledger keys), so the safety-net job may run them again.
 */
export function registerTippingEffects(): void {
  registerTippedHook(announceOnPosts);
  registerTippedHook(rewardReferrers);
}

const announceOnPosts = (ctx: Parameters<typeof announceTippingOnPosts>[0], campaignId: string) =>
  announceTippingOnPosts(ctx, campaignId);

const rewardReferrers = (ctx: { pageId: string; now: Date }, campaignId: string) =>
  rewardReferrersOnTipping({ pageId: ctx.pageId, now: ctx.now }, campaignId);
