import { processPendingDeletions } from '../app/privacy.js';
import { subjectResolverFor } from '../privacy/subject-resolver.js';
import type { JobDefinition } from './types.js';

/**
 * Finishes deletion requests that are still pending a minute after they were recorded (the web
 * request or the turn that recorded them crashed or met an outage). Erasure is idempotent.
 */
export function privacyDeletionsJob(): JobDefinition {
  return {
    id: 'privacy-deletions',
    schedule: '*/5 * * * *',
    description: 'Completes data deletion requests left pending (crash or outage during the request)',
    async run(ctx) {
      const result = await processPendingDeletions(
        {
          pageId: ctx.page.id,
          now: ctx.now,
          secret: ctx.config.facebook.appSecret,
          outboxRetentionMs: ctx.config.retention.outboxMs,
          log: ctx.log,
          resolveSubject: subjectResolverFor(ctx.config, ctx.graph, ctx.log),
        },
        { olderThanMs: 60_000, limit: 100 },
      );
      return { summary: result };
    },
  };
}
