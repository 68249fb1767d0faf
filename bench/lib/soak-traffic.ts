/**
 * The soak's fans: a realistic mix of Messenger and feed traffic, decided one event at a time.
 *
 * Fans react to what the bot really sent them: every accepted Send API call reaching the fake Graph
 * API is `observe()`d, its quick replies and postback buttons become the taps that fan may make next
 * (browse a category, pick a product, a variant, a quantity → add to cart; Join → variant → quantity
 * → pledge; checkout), and its message ids become the delivery and read receipts Meta would send.
 * The m.me referral links the bot hands out (`?ref=r_…`) are collected and opened by other fans.
 *
 * Kinds (default weights in SOAK_MIX): typed text from new and returning fans ("shop", "negozio",
 * product names, "carrello", group buys, invites...), taps on the bot's own buttons and quick replies,
 * Get Started from new fans (half of them through a collected m.me link), m.me referrals opened on an
 * existing thread, comments under the demo Page posts linked to group buys (new and known
 * commenters; a few edits), delivery and read receipts. When a kind has nothing to act on (no fan
 * is waiting to tap, no unread message), a returning fan types text instead; the counts per kind
 * actually sent are reported.
 */
import {
  changesBody,
  commentChange,
  deliveryEvent,
  messageEvent,
  messagingBody,
  newCommentId,
  postbackEvent,
  readEvent,
  referralEvent,
  type WebhookBody,
} from '../../src/dev/webhook-payloads.js';

export type SoakKind = 'text' | 'tap' | 'get_started' | 'referral' | 'comment' | 'delivery' | 'read';

export const SOAK_KINDS: readonly SoakKind[] = [
  'text',
  'tap',
  'get_started',
  'referral',
  'comment',
  'delivery',
  'read',
];

/** Share of each kind in the offered events (sums to 1). */
export const SOAK_MIX: Readonly<Record<SoakKind, number>> = {
  text: 0.26,
  tap: 0.28,
  get_started: 0.06,
  referral: 0.03,
  comment: 0.1,
  delivery: 0.15,
  read: 0.12,
};

/** Share of typed text and of comments that come from a fan never seen before. */
const NEW_FAN_SHARE = { text: 0.15, comment: 0.4 } as const;
/** Until this many fans exist, "returning" traffic comes from new fans instead. */
const MIN_RETURNING_POOL = 50;
/** A fan reads the bot's answer before tapping: at least this long after its last message, ms. */
const THINK_MS = 1500;

const TEXTS = {
  it: [
    'ciao',
    'menu',
    'negozio',
    'shop',
    'carrello',
    'il mio carrello',
    'acquisti di gruppo',
    'i miei acquisti di gruppo',
    'jeans neri',
    'jeans slim indaco',
    'giacca trucker',
    't-shirt logo',
    'cerco giacca sherpa',
    'overshirt in velluto',
    'jeans wide leg',
    'invita amici',
    'i miei inviti',
    'i miei ordini',
    'aiuto',
    'vota',
    'quanto costa la spedizione?',
    'grazie!',
  ],
  en: [
    'hi',
    'menu',
    'shop',
    'cart',
    'group buys',
    'black skinny jeans',
    'trucker jacket',
    'white logo tee',
    'search corduroy overshirt',
    'invite friends',
    'my invites',
    'my orders',
    'help',
    'vote',
    'do you ship to Germany?',
    'thanks!',
  ],
} as const;

const COMMENTS = [
  'io! taglia M',
  'ne voglio 2',
  'JOIN 2 M',
  'quanto costa?',
  'io',
  'ci sto',
  'anche io taglia L',
  "I'm in",
  'me too, size S',
  'bellissima!',
  'che colori avete?',
  'trucker',
  'tee3 taglia M',
  'jeans25 io',
  '😍😍',
];

const FIRST_NAMES = ['Giulia', 'Marco', 'Sofia', 'Luca', 'Emma', 'Liam', 'Chiara', 'Matteo', 'Anna', 'Noah'];

/** Payload names a fan never taps in the soak: a handover or an erasure would end the fan's session. */
const NEVER_TAP = new Set(['human', 'privacy', 'privacy.erase']);
/** Taps that move a purchase forward (add to cart, join, checkout) are chosen more often. */
const PROGRESS = new Set([
  'shop.cat',
  'shop.product',
  'shop.variant',
  'shop.qty',
  'gb.join',
  'gb.var',
  'gb.qty',
  'gb.cjoin',
  'gb.cvar',
  'checkout',
  'checkout.confirm',
  'cart',
]);

interface Action {
  readonly kind: 'quick_reply' | 'postback';
  readonly title: string;
  readonly payload: string;
}

interface Fan {
  readonly index: number;
  readonly psid: string;
  /** The app-scoped id a comment's `from` carries. */
  readonly asid: string;
  readonly name: string;
  readonly locale: 'it' | 'en';
  /** Taps offered by the bot's last burst of messages. */
  actions: Action[];
  lastMessageAt: number;
  undelivered: string[];
  readWatermark: number;
  comments: { commentId: string; postId: string }[];
}

/** What a sent message looked like at the fake Graph API (SentMessage, the fields used here). */
export interface ObservedMessage {
  readonly psid: string | null;
  readonly messageId: string;
  readonly message: Record<string, unknown>;
}

export interface SoakEvent {
  readonly kind: SoakKind;
  /** The kind that was drawn (differs from `kind` after a fallback to text). */
  readonly drawn: SoakKind;
  readonly body: WebhookBody;
  readonly newFan: boolean;
  /** The tapped payload's name (tap only), e.g. `gb.qty`. */
  readonly tapped?: string;
}

export interface SoakTrafficHooks {
  /** Meta learns the fan wrote: the 24 h window opens (fake Graph API). */
  onInteraction(psid: string): void;
  /** A new fan's profile, as `GET /{psid}` will answer it. */
  onNewFan(fan: { psid: string; asid: string; firstName: string; lastName: string; locale: string }): void;
  /** Meta knows the comment (private and public replies need it). */
  onComment(comment: { commentId: string; postId: string; fromId: string; psid: string }): void;
}

/** Small deterministic PRNG (mulberry32), so a run's traffic can be repeated with --seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function actionsOf(message: Record<string, unknown>): Action[] {
  const out: Action[] = [];
  const qrs = message.quick_replies;
  if (Array.isArray(qrs)) {
    for (const q of qrs as { content_type?: string; title?: string; payload?: string }[]) {
      if (typeof q.payload === 'string' && (q.content_type ?? 'text') === 'text')
        out.push({ kind: 'quick_reply', title: String(q.title ?? ''), payload: q.payload });
    }
  }
  const attachment = message.attachment as { type?: string; payload?: Record<string, unknown> } | undefined;
  const buttonsOf = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const b of list as { type?: string; title?: string; payload?: string }[])
      if (b.type === 'postback' && typeof b.payload === 'string')
        out.push({ kind: 'postback', title: String(b.title ?? ''), payload: b.payload });
  };
  if (attachment?.type === 'template' && attachment.payload) {
    buttonsOf(attachment.payload.buttons);
    const elements = attachment.payload.elements;
    if (Array.isArray(elements)) for (const e of elements as { buttons?: unknown }[]) buttonsOf(e.buttons);
  }
  return out;
}

const REF_PATTERN = /m\.me\/[^?"\s\\]+\?ref=(r_[A-Za-z0-9_-]+)/g;

export class SoakTraffic {
  private readonly random: () => number;
  private readonly fans: Fan[] = [];
  private readonly byPsid = new Map<string, Fan>();
  /** Fans with taps to make, in the order their messages arrived. */
  private readonly waiting = new Set<Fan>();
  private readonly toDeliver = new Set<Fan>();
  private readonly toRead = new Set<Fan>();
  private readonly refs: string[] = [];
  private readonly refSeen = new Set<string>();
  private readonly cumulative: [SoakKind, number][];
  /** Fans the bot wrote to, refs collected, messages observed. */
  readonly seen = { messages: 0, refs: 0 };

  constructor(
    private readonly opts: {
      readonly pageId: string;
      readonly posts: readonly string[];
      readonly seed: number;
      readonly hooks: SoakTrafficHooks;
      readonly mix?: Readonly<Record<SoakKind, number>>;
    },
  ) {
    this.random = rng(opts.seed);
    const mix = opts.mix ?? SOAK_MIX;
    const total = SOAK_KINDS.reduce((a, k) => a + mix[k], 0);
    let acc = 0;
    this.cumulative = SOAK_KINDS.map((k) => [k, (acc += mix[k] / total)]);
  }

  get fanCount(): number {
    return this.fans.length;
  }

  /** A message the bot sent (accepted by the fake Graph API). */
  observe(m: ObservedMessage, at: number): void {
    this.seen.messages++;
    const fan = m.psid ? this.byPsid.get(m.psid) : undefined;
    const text = JSON.stringify(m.message);
    for (const match of text.matchAll(REF_PATTERN)) {
      const ref = match[1]!;
      if (this.refSeen.has(ref)) continue;
      this.refSeen.add(ref);
      this.seen.refs++;
      this.refs.push(ref);
      if (this.refs.length > 500) this.refs.splice(0, this.refs.length - 500);
    }
    if (!fan) return;
    const actions = actionsOf(m.message).filter((a) => !NEVER_TAP.has(a.payload.split(':')[0]!));
    // Messages of one answer arrive together; a new answer replaces the taps of the previous one.
    if (at - fan.lastMessageAt > 1000) fan.actions = [];
    fan.actions.push(...actions);
    fan.lastMessageAt = at;
    this.waiting.delete(fan);
    if (fan.actions.length > 0) this.waiting.add(fan);
    fan.undelivered.push(m.messageId);
    if (fan.undelivered.length > 20) fan.undelivered.splice(0, fan.undelivered.length - 20);
    this.toDeliver.add(fan);
  }

  /** The next event to offer. `now` is Date.now(). */
  next(now: number): SoakEvent {
    const r = this.random();
    const drawn = this.cumulative.find(([, c]) => r < c)?.[0] ?? 'text';
    switch (drawn) {
      case 'tap': {
        const e = this.tap(now);
        if (e) return e;
        break;
      }
      case 'get_started':
        return this.getStarted(now);
      case 'referral': {
        const e = this.referral(now);
        if (e) return e;
        break;
      }
      case 'comment':
        return this.comment(now);
      case 'delivery': {
        const e = this.delivery(now);
        if (e) return e;
        break;
      }
      case 'read': {
        const e = this.read(now);
        if (e) return e;
        break;
      }
      case 'text':
        return this.text(now, drawn, this.random() < NEW_FAN_SHARE.text);
    }
    return this.text(now, drawn, false);
  }

  // -------------------------------------------------------------------------------------------

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  private newFan(): Fan {
    const index = this.fans.length;
    const fan: Fan = {
      index,
      psid: String(7_300_000_000_000_000 + index),
      asid: String(5_300_000_000_000 + index),
      name: this.pick(FIRST_NAMES),
      locale: this.random() < 0.7 ? 'it' : 'en',
      actions: [],
      lastMessageAt: 0,
      undelivered: [],
      readWatermark: 0,
      comments: [],
    };
    this.fans.push(fan);
    this.byPsid.set(fan.psid, fan);
    this.opts.hooks.onNewFan({
      psid: fan.psid,
      asid: fan.asid,
      firstName: fan.name,
      lastName: `Soak${index}`,
      locale: fan.locale === 'it' ? 'it_IT' : 'en_US',
    });
    return fan;
  }

  /** A fan who has written before (a new one while there are fewer than 50: no hot first fans). */
  private returning(): Fan {
    return this.fans.length < MIN_RETURNING_POOL ? this.newFan() : this.pick(this.fans);
  }

  private messaging(
    kind: SoakKind,
    drawn: SoakKind,
    fan: Fan,
    newFan: boolean,
    event: Parameters<typeof messagingBody>[1],
    tapped?: string,
  ): SoakEvent {
    this.opts.hooks.onInteraction(fan.psid);
    return {
      kind,
      drawn,
      newFan,
      body: messagingBody(this.opts.pageId, event),
      ...(tapped ? { tapped } : {}),
    };
  }

  private text(now: number, drawn: SoakKind, asNew: boolean): SoakEvent {
    const fan = asNew ? this.newFan() : this.returning();
    const text = this.pick(TEXTS[fan.locale]);
    return this.messaging(
      'text',
      drawn,
      fan,
      asNew,
      messageEvent({ pageId: this.opts.pageId, psid: fan.psid, text, timestamp: now }),
    );
  }

  private tap(now: number): SoakEvent | undefined {
    let fan: Fan | undefined;
    for (const f of this.waiting) {
      if (f.lastMessageAt > now - THINK_MS) break; // later ones arrived even more recently
      fan = f;
      break;
    }
    if (!fan) return undefined;
    this.waiting.delete(fan);
    const actions = fan.actions;
    fan.actions = [];
    if (actions.length === 0) return undefined;
    const weighted = actions.flatMap((a) => (PROGRESS.has(a.payload.split(':')[0]!) ? [a, a, a] : [a]));
    const a = this.pick(weighted);
    const name = a.payload.split(':')[0]!;
    const event =
      a.kind === 'quick_reply'
        ? messageEvent({
            pageId: this.opts.pageId,
            psid: fan.psid,
            text: a.title,
            quickReplyPayload: a.payload,
            timestamp: now,
          })
        : postbackEvent({
            pageId: this.opts.pageId,
            psid: fan.psid,
            payload: a.payload,
            title: a.title,
            timestamp: now,
          });
    return this.messaging('tap', 'tap', fan, false, event, name);
  }

  private getStarted(now: number): SoakEvent {
    const fan = this.newFan();
    const ref = this.refs.length > 0 && this.random() < 0.5 ? this.pick(this.refs) : undefined;
    return this.messaging(
      'get_started',
      'get_started',
      fan,
      true,
      postbackEvent({
        pageId: this.opts.pageId,
        psid: fan.psid,
        payload: 'start:v1',
        title: fan.locale === 'it' ? 'Inizia' : 'Get Started',
        ...(ref ? { referral: { ref } } : {}),
        timestamp: now,
      }),
    );
  }

  private referral(now: number): SoakEvent | undefined {
    if (this.refs.length === 0 || this.fans.length === 0) return undefined;
    const fan = this.returning();
    return this.messaging(
      'referral',
      'referral',
      fan,
      false,
      referralEvent({ pageId: this.opts.pageId, psid: fan.psid, ref: this.pick(this.refs), timestamp: now }),
    );
  }

  private comment(now: number): SoakEvent {
    const asNew = this.random() < NEW_FAN_SHARE.comment;
    const fan = asNew ? this.newFan() : this.returning();
    const previous = fan.comments.length > 0 && this.random() < 0.1 ? this.pick(fan.comments) : undefined;
    const postId = previous?.postId ?? this.pick(this.opts.posts);
    const commentId = previous?.commentId ?? newCommentId(postId);
    if (!previous) {
      fan.comments.push({ commentId, postId });
      if (fan.comments.length > 10) fan.comments.shift();
      this.opts.hooks.onComment({ commentId, postId, fromId: fan.asid, psid: fan.psid });
    }
    const body = changesBody(
      this.opts.pageId,
      commentChange({
        pageId: this.opts.pageId,
        verb: previous ? 'edited' : 'add',
        commentId,
        postId,
        from: { id: fan.asid, name: `${fan.name} Soak${fan.index}` },
        message: this.pick(COMMENTS),
        createdTime: Math.floor(now / 1000),
      }),
    );
    return { kind: 'comment', drawn: 'comment', newFan: asNew, body };
  }

  private delivery(now: number): SoakEvent | undefined {
    const fan = this.toDeliver.values().next().value;
    if (!fan) return undefined;
    this.toDeliver.delete(fan);
    const mids = fan.undelivered.splice(0);
    this.toRead.add(fan);
    return {
      kind: 'delivery',
      drawn: 'delivery',
      newFan: false,
      body: messagingBody(
        this.opts.pageId,
        deliveryEvent({ pageId: this.opts.pageId, psid: fan.psid, mids, watermark: now }),
      ),
    };
  }

  private read(now: number): SoakEvent | undefined {
    const fan = this.toRead.values().next().value;
    if (!fan) return undefined;
    this.toRead.delete(fan);
    fan.readWatermark = now;
    return {
      kind: 'read',
      drawn: 'read',
      newFan: false,
      body: messagingBody(
        this.opts.pageId,
        readEvent({ pageId: this.opts.pageId, psid: fan.psid, watermark: now, timestamp: now }),
      ),
    };
  }
}
