import { createHash } from 'node:crypto';
import { processDeletionRequest, recordDeletionRequest, type PrivacyContext } from '../src/app/privacy.js';
import { buildPayload } from '../src/domain/text-match.js';
import { quickReplies, text } from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import { enqueueMessages } from '../src/messenger/outbox/enqueue.js';
import type { Turn } from '../src/messenger/turn.js';
import { mainMenu } from './start.js';

/** A confirmation older than this is asked again: a quick reply tapped days later is not consent. */
export const CONFIRM_VALID_MS = 60 * 60_000;

export const PRIVACY_PAYLOADS = {
  ask: buildPayload('privacy'),
  confirm: (issuedAt: Date) =>
    buildPayload('privacy.erase', ['yes', String(Math.floor(issuedAt.getTime() / 1000))]),
  cancel: buildPayload('privacy.erase', ['no']),
} as const;

export const ERASE_PHRASES = [
  'cancella i miei dati',
  'cancellare i miei dati',
  'elimina i miei dati',
  'eliminare i miei dati',
  'cancella i dati',
  'dimenticami',
  'delete my data',
  'erase my data',
  'remove my data',
  'delete my information',
  'forget me',
] as const;

function ask(turn: Turn): void {
  turn.say(
    quickReplies(turn.t('privacy.confirm_prompt'), [
      { title: turn.t('privacy.confirm_yes'), payload: PRIVACY_PAYLOADS.confirm(turn.now) },
      { title: turn.t('privacy.confirm_no'), payload: PRIVACY_PAYLOADS.cancel },
    ]),
  );
}

/**
 * Erases the fan. Order matters: the request is recorded first (a failure part-way is finished by
 * the privacy-deletions job), then the confirmation is written to the outbox under a key the erasure
 * leaves alone, then the erasure runs — so the fan hears it even though their other messages go.
 */
async function erase(turn: Turn): Promise<void> {
  const ctx: PrivacyContext = {
    pageId: turn.pageId,
    now: turn.now,
    secret: turn.config.facebook.appSecret,
    outboxRetentionMs: turn.config.retention.outboxMs,
    log: turn.log,
  };
  // Derived from the event: a retried turn finds the same request and the same confirmation.
  const code = createHash('sha256')
    .update(`privacy:${turn.pageId}:${turn.eventKey}`)
    .digest('base64url')
    .slice(0, 22);
  const doneKey = `reply:${turn.eventKey}:privacy-done`;
  await recordDeletionRequest(ctx, {
    source: 'messenger',
    subjectId: turn.psid,
    code,
    keepOutboxKeys: [doneKey],
  });
  await enqueueMessages(
    [
      {
        pageId: turn.pageId,
        idempotencyKey: doneKey,
        kind: 'message',
        recipient: { psid: turn.psid },
        purpose: 'reply',
        body: text(
          turn.t('privacy.done', { url: `${turn.config.publicUrl}/privacy/deletion/${code}` }),
        ) as unknown as Record<string, unknown>,
        origin: { type: 'turn', id: turn.eventKey },
      },
    ],
    turn.now,
  );
  await processDeletionRequest(ctx, code);
}

/** "cancella i miei dati" / "delete my data": confirm with quick replies, then erase and confirm. */
export function registerPrivacyFlow(router: FlowRouter): void {
  router
    .payload('privacy', (turn) => ask(turn))
    .payload('privacy.erase', async (turn, payload) => {
      const [answer, issued] = payload.args;
      if (answer !== 'yes') {
        turn.say(text(turn.t('privacy.cancelled')));
        mainMenu(turn);
        return;
      }
      const issuedMs = Number(issued) * 1000;
      if (!Number.isFinite(issuedMs) || turn.now.getTime() - issuedMs > CONFIRM_VALID_MS) {
        turn.say(text(turn.t('privacy.stale')));
        ask(turn);
        return;
      }
      await erase(turn);
    })
    .text(ERASE_PHRASES, (turn) => ask(turn), 'contains');
}
