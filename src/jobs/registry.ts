import { abandonedCartsJob } from './abandoned-carts.js';
import { broadcastsJob } from './broadcasts.js';
import { feedbackRequestsJob, proposalsJob } from './codesign.js';
import { groupBuyJobs } from './groupbuy.js';
import { inboxJanitorJob } from './inbox-janitor.js';
import { outboxJanitorJob } from './outbox-janitor.js';
import { privacyDeletionsJob } from './privacy-deletions.js';
import { tokenHealthJob, type PausableSender } from './token-health.js';
import type { JobDefinition } from './types.js';

/** What jobs may need beyond their run context (the composition root fills it in). */
export interface JobDeps {
  /** The local outbox sender (worker role). */
  readonly sender?: PausableSender | undefined;
}

/**
 * The single list of scheduled jobs. A feature adds its job here: write a `JobDefinition` (driven by
 * state: query what is due now) in `src/jobs/<feature>.ts` and add one line below.
 */
export function createJobs(deps: JobDeps = {}): JobDefinition[] {
  return [
    inboxJanitorJob(),
    outboxJanitorJob(),
    tokenHealthJob({ sender: deps.sender }),
    privacyDeletionsJob(),
    abandonedCartsJob(),
    broadcastsJob(),
    proposalsJob(),
    feedbackRequestsJob(),
    ...groupBuyJobs(),
  ];
}
