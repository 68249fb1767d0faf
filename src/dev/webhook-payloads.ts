import { createHmac, randomBytes } from 'node:crypto';

/**
 * Real-format Messenger Platform webhook payloads, exactly as Meta sends them
 * (/work/shared/reference/messenger-platform.md §1, §3, §5), plus the byte-level details that matter
 * at the edge: Meta's escaped-unicode serialisation and the `X-Hub-Signature-256` header.
 *
 * Used by the simulator at run time and by end-to-end tests and benchmarks. No dependency on the
 * rest of the app: a test that builds a payload here exercises the real parsing code paths.
 */

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

export interface Party {
  id: string;
}

export interface Attachment {
  type: 'image' | 'audio' | 'video' | 'file' | 'fallback' | 'template' | 'location';
  payload: Record<string, unknown> | null;
  title?: string;
  url?: string;
}

export interface Referral {
  ref: string;
  source: 'SHORTLINK' | 'ADS' | 'CUSTOMER_CHAT_PLUGIN';
  type: 'OPEN_THREAD';
  ad_id?: string;
  ads_context_data?: Record<string, unknown>;
}

/** One element of `entry[].messaging` / `entry[].standby`. */
export interface MessagingEvent {
  sender: Party;
  recipient: Party;
  timestamp?: number;
  message?: {
    mid: string;
    text?: string;
    quick_reply?: { payload: string };
    reply_to?: { mid: string };
    attachments?: Attachment[];
    is_echo?: true;
    app_id?: number;
    metadata?: string;
    quick_replies?: unknown[];
  };
  postback?: { mid: string; title: string; payload: string; referral?: Referral };
  referral?: Referral;
  delivery?: { mids?: string[]; watermark: number };
  read?: { watermark: number };
  optin?: Record<string, unknown>;
  pass_thread_control?: { previous_owner_app_id?: string; new_owner_app_id: string; metadata?: string };
  take_thread_control?: { previous_owner_app_id: string; new_owner_app_id?: string; metadata?: string };
  request_thread_control?: { requested_owner_app_id: string; metadata?: string };
}

export type CommentVerb = 'add' | 'edited' | 'remove' | 'hide';

/** One element of `entry[].changes` for the Page `feed` field, item `comment`. */
export interface FeedCommentChange {
  field: 'feed';
  value: {
    item: 'comment';
    verb: CommentVerb;
    comment_id: string;
    post_id: string;
    parent_id: string;
    created_time: number;
    message?: string;
    from?: { id: string; name: string };
    sender_id?: string;
    sender_name?: string;
    post: { id: string; status_type: string; is_published: boolean; updated_time: string };
  };
}

export interface WebhookEntry {
  id: string;
  time: number;
  messaging?: MessagingEvent[];
  standby?: MessagingEvent[];
  changes?: FeedCommentChange[];
}

export interface WebhookBody {
  object: 'page';
  entry: WebhookEntry[];
}

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

/** A message id in Meta's current style: `m_` followed by url-safe base64. Unique per call. */
export function newMid(): string {
  return `m_${randomBytes(24).toString('base64url')}`;
}

/** A numeric-looking object id (Meta ids are decimal strings). */
export function newNumericId(digits = 15): string {
  let s = String(1 + (randomBytes(1)[0]! % 9));
  const bytes = randomBytes(digits);
  for (let i = 1; i < digits; i++) s += String(bytes[i]! % 10);
  return s;
}

/** Comment ids look like `<post-object-id>_<comment-number>`; post ids like `<page-id>_<post-number>`. */
export function newCommentId(postId: string): string {
  const postObject = postId.includes('_') ? postId.split('_')[1]! : postId;
  return `${postObject}_${newNumericId(15)}`;
}

// ---------------------------------------------------------------------------------------------
// Messaging events (entry[].messaging)
// ---------------------------------------------------------------------------------------------

interface FanEventBase {
  pageId: string;
  psid: string;
  timestamp?: number;
}

function fanToPage(o: FanEventBase): Pick<MessagingEvent, 'sender' | 'recipient' | 'timestamp'> {
  return { sender: { id: o.psid }, recipient: { id: o.pageId }, timestamp: o.timestamp ?? Date.now() };
}

/** `messages`: typed text, a quick-reply tap (text = chip title + `quick_reply.payload`), attachments. */
export function messageEvent(
  o: FanEventBase & {
    text?: string;
    mid?: string;
    quickReplyPayload?: string;
    attachments?: Attachment[];
    replyToMid?: string;
  },
): MessagingEvent {
  const message: NonNullable<MessagingEvent['message']> = { mid: o.mid ?? newMid() };
  if (o.text !== undefined) message.text = o.text;
  if (o.quickReplyPayload !== undefined) message.quick_reply = { payload: o.quickReplyPayload };
  if (o.replyToMid !== undefined) message.reply_to = { mid: o.replyToMid };
  if (o.attachments !== undefined) message.attachments = o.attachments;
  return { ...fanToPage(o), message };
}

/** An image the fan sent (as Meta delivers it: an attachment with a CDN url). */
export function imageAttachment(url: string): Attachment {
  return { type: 'image', payload: { url } };
}

/**
 * `messaging_postbacks`: a button, Get Started or persistent-menu tap. A Get Started tap from an m.me
 * link on a new thread carries `referral` (§5).
 */
export function postbackEvent(
  o: FanEventBase & {
    payload: string;
    title: string;
    referral?: { ref: string; source?: Referral['source']; type?: Referral['type'] };
    mid?: string;
  },
): MessagingEvent {
  const postback: NonNullable<MessagingEvent['postback']> = {
    mid: o.mid ?? newMid(),
    title: o.title,
    payload: o.payload,
  };
  if (o.referral) {
    postback.referral = {
      ref: o.referral.ref,
      source: o.referral.source ?? 'SHORTLINK',
      type: o.referral.type ?? 'OPEN_THREAD',
    };
  }
  return { ...fanToPage(o), postback };
}

/** `messaging_referrals`: an m.me link (or ad) opened on an existing thread. */
export function referralEvent(
  o: FanEventBase & { ref: string; source?: Referral['source']; adId?: string },
): MessagingEvent {
  const referral: Referral = { ref: o.ref, source: o.source ?? 'SHORTLINK', type: 'OPEN_THREAD' };
  if (o.adId !== undefined) referral.ad_id = o.adId;
  return { ...fanToPage(o), referral };
}

/** `message_deliveries`. Meta's documented shape has no `timestamp`; pass one to add it. */
export function deliveryEvent(
  o: Omit<FanEventBase, 'timestamp'> & { mids?: string[]; watermark?: number; timestamp?: number },
): MessagingEvent {
  const delivery: NonNullable<MessagingEvent['delivery']> = { watermark: o.watermark ?? Date.now() };
  if (o.mids !== undefined) delivery.mids = o.mids;
  const ev: MessagingEvent = { sender: { id: o.psid }, recipient: { id: o.pageId }, delivery };
  if (o.timestamp !== undefined) ev.timestamp = o.timestamp;
  return ev;
}

/** `message_reads`: everything sent at or before `watermark` was read. */
export function readEvent(o: FanEventBase & { watermark?: number }): MessagingEvent {
  const base = fanToPage(o);
  return { ...base, read: { watermark: o.watermark ?? base.timestamp! } };
}

/** `message_echoes`: the Page's own send, echoed back (sender = page, recipient = fan). */
export function echoEvent(
  o: FanEventBase & { appId: number | string; text?: string; mid?: string; metadata?: string },
): MessagingEvent {
  const message: NonNullable<MessagingEvent['message']> = {
    mid: o.mid ?? newMid(),
    is_echo: true,
    app_id: Number(o.appId),
  };
  if (o.metadata !== undefined) message.metadata = o.metadata;
  if (o.text !== undefined) message.text = o.text;
  return {
    sender: { id: o.pageId },
    recipient: { id: o.psid },
    timestamp: o.timestamp ?? Date.now(),
    message,
  };
}

/** `messaging_optins` for Marketing Messages (notification_messages): opt-in, stop or resume. */
export function optinEvent(
  o: FanEventBase & {
    token: string;
    status?: 'STOP NOTIFICATIONS' | 'RESUME NOTIFICATIONS';
    payload?: string;
    title?: string;
    frequency?: 'DAILY' | 'WEEKLY' | 'MONTHLY';
    timezone?: string;
    tokenExpiry?: number;
  },
): MessagingEvent {
  const optin: Record<string, unknown> = {
    type: 'notification_messages',
    payload: o.payload ?? '',
    notification_messages_token: o.token,
    notification_messages_timezone: o.timezone ?? 'Europe/Rome',
    token_expiry_timestamp: o.tokenExpiry ?? Date.now() + 180 * 24 * 3600 * 1000,
    user_token_status: 'NOT_REFRESHED',
    title: o.title ?? 'Updates',
  };
  if (o.frequency !== undefined) optin.notification_messages_frequency = o.frequency;
  if (o.status !== undefined) optin.notification_messages_status = o.status;
  return { ...fanToPage(o), optin };
}

/** `messaging_handovers`: pass / take / request thread control. */
export function handoverEvent(
  o: FanEventBase & {
    kind: 'pass' | 'take' | 'request';
    /** pass: the new owner; take: the previous owner; request: the requesting app. */
    otherAppId: string;
    /** pass: the previous owner; take: the new owner (usually this app). */
    ownAppId?: string;
    metadata?: string;
  },
): MessagingEvent {
  const base = fanToPage(o);
  const meta = o.metadata !== undefined ? { metadata: o.metadata } : {};
  switch (o.kind) {
    case 'pass':
      return {
        ...base,
        pass_thread_control: {
          ...(o.ownAppId !== undefined ? { previous_owner_app_id: o.ownAppId } : {}),
          new_owner_app_id: o.otherAppId,
          ...meta,
        },
      };
    case 'take':
      return {
        ...base,
        take_thread_control: {
          previous_owner_app_id: o.otherAppId,
          ...(o.ownAppId !== undefined ? { new_owner_app_id: o.ownAppId } : {}),
          ...meta,
        },
      };
    case 'request':
      return { ...base, request_thread_control: { requested_owner_app_id: o.otherAppId, ...meta } };
  }
}

// ---------------------------------------------------------------------------------------------
// Feed changes (entry[].changes)
// ---------------------------------------------------------------------------------------------

/**
 * A `feed` change for a comment. `parentId` defaults to `postId` (a top-level comment). `legacySender`
 * uses the older `sender_id`/`sender_name` fields instead of `from`. `createdTime` is in unix seconds,
 * as Meta sends it. A `remove` carries no message.
 */
export function commentChange(o: {
  pageId: string;
  verb: CommentVerb;
  commentId: string;
  postId: string;
  parentId?: string;
  from?: { id: string; name: string };
  legacySender?: true;
  message?: string;
  createdTime?: number;
}): FeedCommentChange {
  const createdTime = o.createdTime ?? Math.floor(Date.now() / 1000);
  const value: FeedCommentChange['value'] = {
    item: 'comment',
    verb: o.verb,
    comment_id: o.commentId,
    post_id: o.postId,
    parent_id: o.parentId ?? o.postId,
    created_time: createdTime,
    post: {
      id: o.postId,
      status_type: 'added_photos',
      is_published: true,
      updated_time: new Date(createdTime * 1000).toISOString().replace(/\.\d{3}Z$/, '+0000'),
    },
  };
  if (o.from) {
    if (o.legacySender) {
      value.sender_id = o.from.id;
      value.sender_name = o.from.name;
    } else {
      value.from = { id: o.from.id, name: o.from.name };
    }
  }
  if (o.message !== undefined && o.verb !== 'remove') value.message = o.message;
  return { field: 'feed', value };
}

// ---------------------------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------------------------

export interface EntrySpec {
  /** Defaults to the envelope's page id. */
  id?: string;
  /** Defaults to now (ms). */
  time?: number;
  messaging?: MessagingEvent[];
  standby?: MessagingEvent[];
  changes?: FeedCommentChange[];
}

/**
 * `{object:'page', entry:[...]}` with one entry per spec (Meta batches several entries per POST).
 * Each entry carries exactly the arrays given.
 */
export function envelope(pageId: string, entries: EntrySpec[]): WebhookBody {
  const now = Date.now();
  return {
    object: 'page',
    entry: entries.map((e) => {
      const entry: WebhookEntry = { id: e.id ?? pageId, time: e.time ?? now };
      if (e.messaging) entry.messaging = e.messaging;
      if (e.standby) entry.standby = e.standby;
      if (e.changes) entry.changes = e.changes;
      return entry;
    }),
  };
}

/** Shorthand: one entry holding the given messaging events. */
export function messagingBody(pageId: string, ...events: MessagingEvent[]): WebhookBody {
  return envelope(pageId, [{ messaging: events }]);
}

/** Shorthand: one entry holding the given feed changes. */
export function changesBody(pageId: string, ...changes: FeedCommentChange[]): WebhookBody {
  return envelope(pageId, [{ changes }]);
}

// ---------------------------------------------------------------------------------------------
// Bytes and signatures
// ---------------------------------------------------------------------------------------------

/**
 * JSON as Meta puts it on the wire: every non-ASCII UTF-16 code unit escaped as `\uXXXX` with lowercase
 * hex (so astral characters become a surrogate pair), and `/` escaped as `\/`. Only strings can contain
 * either, so the replacement never touches JSON syntax. The result is pure ASCII.
 */
export function serializeLikeMeta(obj: unknown): string {
  const json = JSON.stringify(obj);
  if (json === undefined) throw new TypeError('serializeLikeMeta: value is not serialisable');
  return json
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}

/** `sha256=<hex>`: HMAC-SHA256 of the raw bytes with the App Secret (the `X-Hub-Signature-256` value). */
export function signBody(raw: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(raw).digest('hex')}`;
}

/** `sha1=<hex>`: the legacy `X-Hub-Signature` value. */
export function signBodySha1(raw: string | Buffer, appSecret: string): string {
  return `sha1=${createHmac('sha1', appSecret).update(raw).digest('hex')}`;
}

export type SignatureMode = 'valid' | 'invalid' | 'none' | 'sha1-only';

export interface PostSignedWebhookOptions {
  /** Default `valid`: both headers, correct. `invalid`: a well-formed but wrong SHA-256. */
  signature?: SignatureMode;
  /** Abort after this many ms (default 30 000). */
  timeoutMs?: number;
  /** Extra headers (e.g. a test marker). */
  headers?: Record<string, string>;
}

/** The headers Meta would send with `raw`, for the given signature mode. */
export function webhookHeaders(
  raw: string | Buffer,
  appSecret: string,
  mode: SignatureMode = 'valid',
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'facebookexternalua',
  };
  switch (mode) {
    case 'valid':
      headers['x-hub-signature'] = signBodySha1(raw, appSecret);
      headers['x-hub-signature-256'] = signBody(raw, appSecret);
      break;
    case 'invalid':
      headers['x-hub-signature'] = signBodySha1(raw, `${appSecret}-wrong`);
      headers['x-hub-signature-256'] = signBody(raw, `${appSecret}-wrong`);
      break;
    case 'sha1-only':
      headers['x-hub-signature'] = signBodySha1(raw, appSecret);
      break;
    case 'none':
      break;
  }
  return headers;
}

/**
 * POST a webhook body as Meta would: serialised with {@link serializeLikeMeta} (unless already a
 * string/Buffer, which is sent byte for byte) and signed over exactly those bytes.
 */
export async function postSignedWebhook(
  url: string,
  body: WebhookBody | string | Buffer,
  appSecret: string,
  options: PostSignedWebhookOptions = {},
): Promise<{ status: number; text: string }> {
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : serializeLikeMeta(body);
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...webhookHeaders(raw, appSecret, options.signature ?? 'valid'), ...options.headers },
    body: raw,
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  return { status: res.status, text: await res.text() };
}
