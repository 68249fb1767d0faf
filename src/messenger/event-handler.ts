import { Types } from 'mongoose';
import type { Config, Locale } from '../config/index.js';
import { recordBroadcastReceipt } from '../app/broadcasts.js';
import { OutboxMessageModel } from '../db/models/outbox-message.js';
import type { MessagingPurpose } from '../domain/messaging-policy.js';
import { t as translate } from '../i18n/index.js';
import type { Logger } from '../log.js';
import { text, type OutgoingMessage } from './builders.js';
import type { BotEdge } from './botkit/edge.js';
import type { FanRegistry } from './fans.js';
import type { InboxHandler, InboxItem, InboxOutcome } from './inbox/processor.js';
import { enqueueMessages, type PolicySnapshot } from './outbox/enqueue.js';
import type { FanView, QueuedMessage, Turn, TurnInput } from './turn.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The comments feature fills this in; until then feed changes are stored and skipped. */
export type FeedHandler = (item: InboxItem) => Promise<InboxOutcome>;

export interface EventHandlerDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly now: () => Date;
  readonly fans: FanRegistry;
  readonly edge: BotEdge;
  readonly onFeed?: FeedHandler;
  /** Wakes the local outbox sender once a turn's messages are stored. */
  readonly onQueued?: () => void;
}

/** Reads what the fan did from a raw messaging event. Undefined: nothing a flow should see. */
export function readTurnInput(event: Json): TurnInput | undefined {
  const message = isObject(event.message) ? event.message : undefined;
  if (message) {
    const quick = isObject(message.quick_reply) ? message.quick_reply : undefined;
    const textValue = typeof message.text === 'string' ? message.text : '';
    if (quick && typeof quick.payload === 'string') {
      return { type: 'quick_reply', payload: quick.payload, text: textValue };
    }
    if (textValue.length > 0) return { type: 'text', text: textValue };
    if (Array.isArray(message.attachments)) {
      const types = message.attachments.map((a) =>
        isObject(a) && typeof a.type === 'string' ? a.type : 'unknown',
      );
      return { type: 'attachment', attachmentTypes: types };
    }
    return undefined;
  }
  const postback = isObject(event.postback) ? event.postback : undefined;
  if (postback && typeof postback.payload === 'string') {
    const referral = isObject(postback.referral) ? postback.referral : undefined;
    return {
      type: 'postback',
      payload: postback.payload,
      title: typeof postback.title === 'string' ? postback.title : '',
      ...(referral && typeof referral.ref === 'string' ? { ref: referral.ref } : {}),
    };
  }
  const referral = isObject(event.referral) ? event.referral : undefined;
  if (referral && typeof referral.ref === 'string') {
    return {
      type: 'referral',
      ref: referral.ref,
      source: typeof referral.source === 'string' ? referral.source : '',
    };
  }
  const optin = isObject(event.optin) ? event.optin : undefined;
  if (optin) {
    return {
      type: 'optin',
      ...(typeof optin.notification_messages_token === 'string'
        ? { token: optin.notification_messages_token }
        : {}),
      ...(typeof optin.notification_messages_status === 'string'
        ? { status: optin.notification_messages_status }
        : {}),
    };
  }
  return undefined;
}

function createTurn(
  deps: EventHandlerDeps,
  item: InboxItem,
  fan: FanView,
  input: TurnInput,
): Turn & { localeChanged: boolean } {
  const queued: QueuedMessage[] = [];
  let locale: Locale = fan.locale;
  let localeChanged = false;
  const log = deps.log.child({ psid: fan.psid, event: item.dedupeKey });
  return {
    pageId: item.pageId,
    psid: fan.psid,
    fan,
    get locale() {
      return locale;
    },
    input,
    now: deps.now(),
    log,
    config: deps.config,
    eventKey: item.dedupeKey,
    t: (key, vars) => translate(locale, key, vars),
    say(message: OutgoingMessage, purpose: MessagingPurpose = 'reply') {
      queued.push({ kind: 'message', message, purpose });
    },
    passToInbox() {
      queued.push({ kind: 'handover', purpose: 'reply' });
    },
    setLocale(next: Locale) {
      locale = next;
      localeChanged = true;
    },
    queued,
    get localeChanged() {
      return localeChanged;
    },
  };
}

/**
 * Turns one stored inbox event into its effects. Messaging events become a Botkit turn; receipts and
 * echoes only update state (they must never answer a question a dialog is waiting on).
 */
export function createInboxHandler(deps: EventHandlerDeps): InboxHandler {
  return async (item) => {
    const event = item.payload;
    switch (item.kind) {
      case 'message':
      case 'postback':
      case 'referral':
      case 'optin':
        return handleMessaging(deps, item, event);
      case 'delivery':
      case 'read': {
        const psid = isObject(event.sender) ? String(event.sender.id) : undefined;
        const body = (isObject(event[item.kind]) ? event[item.kind] : {}) as Json;
        if (psid && typeof body.watermark === 'number') {
          await deps.fans.recordWatermark(
            psid,
            item.kind === 'delivery' ? 'deliveredWatermark' : 'readWatermark',
            new Date(body.watermark),
          );
          const mids = Array.isArray(body.mids) ? body.mids.map(String) : undefined;
          await recordBroadcastReceipt(item.pageId, psid, item.kind, new Date(body.watermark), mids);
        }
        return 'done';
      }
      case 'echo':
        await confirmEcho(event);
        return 'done';
      case 'handover':
        await handleHandover(deps, event);
        return 'done';
      case 'feed':
        return deps.onFeed ? deps.onFeed(item) : 'skipped';
      case 'standby':
        // The Page inbox (a person) owns the thread: the bot stays silent.
        return 'skipped';
      default:
        deps.log.info({ dedupeKey: item.dedupeKey }, 'unknown webhook event stored and skipped');
        return 'skipped';
    }
  };
}

async function handleMessaging(deps: EventHandlerDeps, item: InboxItem, event: Json): Promise<InboxOutcome> {
  const psid = isObject(event.sender) && typeof event.sender.id === 'string' ? event.sender.id : undefined;
  const input = readTurnInput(event);
  if (!psid || !input) {
    deps.log.info(
      { dedupeKey: item.dedupeKey, kind: item.kind },
      'messaging event without a fan action; skipped',
    );
    return 'skipped';
  }
  // Every one of these opens or refreshes Meta's 24 h window, at the time Meta saw it.
  const fan = await deps.fans.recordInteraction(psid, item.eventTime, input.type !== 'optin');
  if (input.type === 'referral') await deps.fans.setArrival(psid, input.ref, input.source, item.eventTime);
  if (input.type === 'postback' && input.ref)
    await deps.fans.setArrival(psid, input.ref, 'SHORTLINK', item.eventTime);
  const turn = createTurn(deps, item, fan, input);
  await deps.edge.runTurn(event, turn);
  if (turn.localeChanged) await deps.fans.setLocale(psid, turn.locale);
  await flushTurn(deps, item, turn, fan.policy);
  return 'done';
}

/** Writes what the turn said to the outbox, keyed by event and position: a retried turn adds nothing. */
async function flushTurn(
  deps: EventHandlerDeps,
  item: InboxItem,
  turn: Turn,
  policy: PolicySnapshot,
): Promise<void> {
  if (turn.queued.length === 0) return;
  const result = await enqueueMessages(
    turn.queued.map((q, i) => ({
      pageId: item.pageId,
      idempotencyKey: `reply:${item.dedupeKey}:${i}`,
      kind: q.kind,
      recipient: { psid: turn.psid },
      purpose: q.purpose,
      body:
        q.kind === 'message'
          ? (q.message as unknown as Record<string, unknown>)
          : { metadata: 'fan asked for a person' },
      origin: { type: 'turn', id: item.dedupeKey },
      policy,
    })),
    deps.now(),
  );
  if (result.created > 0) deps.onQueued?.();
}

/** An echo carrying our outbox id proves a send reached Meta, even if we crashed before recording it. */
async function confirmEcho(event: Json): Promise<void> {
  const message = isObject(event.message) ? event.message : {};
  const metadata = typeof message.metadata === 'string' ? message.metadata : '';
  if (!metadata.startsWith('ob:')) return;
  const id = metadata.slice(3);
  if (!/^[0-9a-f]{24}$/.test(id)) return;
  await OutboxMessageModel.collection.updateOne(
    { _id: new Types.ObjectId(id), state: 'pending' },
    {
      $set: {
        state: 'sent',
        sentAt: new Date(),
        result: { messageId: String(message.mid ?? ''), recipientId: null },
      },
      $unset: { leaseUntil: '' },
    },
  );
}

async function handleHandover(deps: EventHandlerDeps, event: Json): Promise<void> {
  const psid = isObject(event.sender) ? String(event.sender.id) : undefined;
  if (!psid) return;
  const appId = deps.config.facebook.appId;
  if (isObject(event.pass_thread_control)) {
    const owner = String(event.pass_thread_control.new_owner_app_id ?? '');
    await deps.fans.setThreadOwner(psid, appId && owner === appId ? 'bot' : 'inbox');
  } else if (isObject(event.take_thread_control)) {
    await deps.fans.setThreadOwner(psid, 'inbox');
  }
}

/** The apology a fan gets when a flow fails: in their language, once per event. */
export function apologyFor(turn: Turn): OutgoingMessage {
  return text(turn.t('errors.apology'));
}
