/**
 * Typed builders for Send API `message` objects. Every builder enforces Meta's limits at build time
 * and throws a {@link MessageLimitError} naming the violated limit; callers that prefer to fit rather
 * than fail use {@link truncate} first. The output is exactly the `message` field of a Send API call.
 */
import { LIMITS, charCount, type LimitName } from './limits.js';

export { LIMITS, charCount, type LimitName } from './limits.js';

/** Thrown when a message would break one of Meta's limits. `limit` is a key of {@link LIMITS}, or a
 * structural rule (`required`, `url`) when the limit is not a number. */
export class MessageLimitError extends Error {
  override readonly name = 'MessageLimitError';
  constructor(
    readonly limit: LimitName | 'required' | 'url',
    /** Where in the message, e.g. `quick_replies[3].title`. */
    readonly path: string,
    readonly actual: number | string,
    readonly max?: number,
  ) {
    super(
      max === undefined
        ? `message limit ${limit} violated at ${path} (${String(actual)})`
        : `message limit ${limit} exceeded at ${path}: ${String(actual)} > ${max}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Output types (Send API shapes)

export interface PostbackButton {
  type: 'postback';
  title: string;
  payload: string;
}
export interface UrlButton {
  type: 'web_url';
  title: string;
  url: string;
  webview_height_ratio?: 'compact' | 'tall' | 'full';
}
export interface PhoneButton {
  type: 'phone_number';
  title: string;
  payload: string;
}
export type Button = PostbackButton | UrlButton | PhoneButton;

export interface QuickReply {
  content_type: 'text';
  title: string;
  payload: string;
  image_url?: string;
}

export interface DefaultAction {
  type: 'web_url';
  url: string;
  webview_height_ratio?: 'compact' | 'tall' | 'full';
}

export interface GenericElement {
  title: string;
  subtitle?: string;
  image_url?: string;
  default_action?: DefaultAction;
  buttons?: Button[];
}

export interface GenericTemplatePayload {
  template_type: 'generic';
  image_aspect_ratio?: 'horizontal' | 'square';
  elements: GenericElement[];
}
export interface ButtonTemplatePayload {
  template_type: 'button';
  text: string;
  buttons: Button[];
}

export interface TextMessage {
  text: string;
  quick_replies?: QuickReply[];
}
export interface TemplateMessage {
  attachment: { type: 'template'; payload: GenericTemplatePayload | ButtonTemplatePayload };
  quick_replies?: QuickReply[];
}
export interface MediaMessage {
  attachment: {
    type: 'image' | 'audio' | 'video' | 'file';
    payload: { url: string; is_reusable?: boolean } | { attachment_id: string };
  };
  quick_replies?: QuickReply[];
}
/** The Send API `message` object. */
export type OutgoingMessage = TextMessage | TemplateMessage | MediaMessage;

// ---------------------------------------------------------------------------------------------
// Checks

function checkMax(limit: LimitName, path: string, s: string): void {
  const max = LIMITS[limit];
  const n = charCount(s);
  if (n > max) throw new MessageLimitError(limit, path, n, max);
}

function checkRequired(path: string, s: unknown): void {
  if (typeof s !== 'string' || s.length === 0) throw new MessageLimitError('required', path, String(s));
}

function checkUrl(path: string, url: string): void {
  let ok = false;
  try {
    const u = new URL(url);
    ok = u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    ok = false;
  }
  if (!ok) throw new MessageLimitError('url', path, url);
}

function checkButtons(path: string, buttons: readonly Button[]): void {
  buttons.forEach((b, i) => checkButton(`${path}[${i}]`, b));
}

function checkButton(path: string, b: Button): void {
  checkRequired(`${path}.title`, b.title);
  checkMax('buttonTitleMaxChars', `${path}.title`, b.title);
  if (b.type === 'web_url') checkUrl(`${path}.url`, b.url);
  else {
    checkRequired(`${path}.payload`, b.payload);
    checkMax('buttonPayloadMaxChars', `${path}.payload`, b.payload);
  }
}

// ---------------------------------------------------------------------------------------------
// Buttons

export function postback(title: string, payload: string): PostbackButton {
  const b: PostbackButton = { type: 'postback', title, payload };
  checkButton('button', b);
  return b;
}

export function urlButton(
  title: string,
  url: string,
  opts: { webviewHeightRatio?: 'compact' | 'tall' | 'full' } = {},
): UrlButton {
  const b: UrlButton = { type: 'web_url', title, url };
  if (opts.webviewHeightRatio) b.webview_height_ratio = opts.webviewHeightRatio;
  checkButton('button', b);
  return b;
}

/** `phone` in international format, starting with `+`. */
export function phoneButton(title: string, phone: string): PhoneButton {
  const b: PhoneButton = { type: 'phone_number', title, payload: phone };
  checkButton('button', b);
  if (!/^\+\d{4,}$/.test(phone)) throw new MessageLimitError('required', 'button.payload', phone);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Messages

export function text(s: string): TextMessage {
  checkRequired('text', s);
  checkMax('textMaxChars', 'text', s);
  return { text: s };
}

export interface QuickReplyInput {
  title: string;
  payload: string;
  imageUrl?: string;
}

function buildQuickReplies(replies: readonly QuickReplyInput[]): QuickReply[] {
  if (replies.length > LIMITS.quickRepliesMax) {
    throw new MessageLimitError('quickRepliesMax', 'quick_replies', replies.length, LIMITS.quickRepliesMax);
  }
  return replies.map((r, i) => {
    const path = `quick_replies[${i}]`;
    checkRequired(`${path}.title`, r.title);
    checkMax('quickReplyTitleMaxChars', `${path}.title`, r.title);
    checkRequired(`${path}.payload`, r.payload);
    checkMax('quickReplyPayloadMaxChars', `${path}.payload`, r.payload);
    const qr: QuickReply = { content_type: 'text', title: r.title, payload: r.payload };
    if (r.imageUrl !== undefined) {
      checkUrl(`${path}.image_url`, r.imageUrl);
      qr.image_url = r.imageUrl;
    }
    return qr;
  });
}

export function quickReplies(s: string, replies: readonly QuickReplyInput[]): TextMessage {
  const msg = text(s);
  const qrs = buildQuickReplies(replies);
  return qrs.length > 0 ? { ...msg, quick_replies: qrs } : msg;
}

/** Adds quick replies to any message (templates and media accept them too). */
export function withQuickReplies<M extends OutgoingMessage>(
  message: M,
  replies: readonly QuickReplyInput[],
): M {
  return { ...message, quick_replies: buildQuickReplies(replies) };
}

export interface CarouselElementInput {
  title: string;
  subtitle?: string;
  imageUrl?: string;
  /** URL opened when the element itself is tapped. */
  defaultActionUrl?: string;
  buttons?: readonly Button[];
}

export function carousel(
  elements: readonly CarouselElementInput[],
  opts: { imageAspectRatio?: 'horizontal' | 'square' } = {},
): TemplateMessage {
  if (elements.length === 0) throw new MessageLimitError('required', 'elements', 0);
  if (elements.length > LIMITS.genericElementsMax) {
    throw new MessageLimitError('genericElementsMax', 'elements', elements.length, LIMITS.genericElementsMax);
  }
  const out = elements.map((e, i): GenericElement => {
    const path = `elements[${i}]`;
    checkRequired(`${path}.title`, e.title);
    checkMax('genericTitleMaxChars', `${path}.title`, e.title);
    const el: GenericElement = { title: e.title };
    if (e.subtitle !== undefined && e.subtitle !== '') {
      checkMax('genericSubtitleMaxChars', `${path}.subtitle`, e.subtitle);
      el.subtitle = e.subtitle;
    }
    if (e.imageUrl !== undefined) {
      checkUrl(`${path}.image_url`, e.imageUrl);
      el.image_url = e.imageUrl;
    }
    if (e.defaultActionUrl !== undefined) {
      checkUrl(`${path}.default_action.url`, e.defaultActionUrl);
      el.default_action = { type: 'web_url', url: e.defaultActionUrl };
    }
    if (e.buttons && e.buttons.length > 0) {
      if (e.buttons.length > LIMITS.genericButtonsMax) {
        throw new MessageLimitError(
          'genericButtonsMax',
          `${path}.buttons`,
          e.buttons.length,
          LIMITS.genericButtonsMax,
        );
      }
      checkButtons(`${path}.buttons`, e.buttons);
      el.buttons = [...e.buttons];
    }
    return el;
  });
  const payload: GenericTemplatePayload = { template_type: 'generic', elements: out };
  if (opts.imageAspectRatio) payload.image_aspect_ratio = opts.imageAspectRatio;
  return { attachment: { type: 'template', payload } };
}

export function buttonTemplate(s: string, buttons: readonly Button[]): TemplateMessage {
  checkRequired('text', s);
  checkMax('buttonTemplateTextMaxChars', 'text', s);
  if (buttons.length < LIMITS.buttonTemplateButtonsMin) {
    throw new MessageLimitError('buttonTemplateButtonsMin', 'buttons', buttons.length);
  }
  if (buttons.length > LIMITS.buttonTemplateButtonsMax) {
    throw new MessageLimitError(
      'buttonTemplateButtonsMax',
      'buttons',
      buttons.length,
      LIMITS.buttonTemplateButtonsMax,
    );
  }
  checkButtons('buttons', buttons);
  return {
    attachment: { type: 'template', payload: { template_type: 'button', text: s, buttons: [...buttons] } },
  };
}

export function image(url: string, opts: { reusable?: boolean } = {}): MediaMessage {
  checkUrl('attachment.payload.url', url);
  const payload: { url: string; is_reusable?: boolean } = { url };
  if (opts.reusable) payload.is_reusable = true;
  return { attachment: { type: 'image', payload } };
}

// ---------------------------------------------------------------------------------------------
// Fitting

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Shortens `s` to at most `n` code points, ending with `ellipsis` when something was cut. Cuts on
 * grapheme boundaries, so an emoji sequence or an accented letter is never split in half.
 */
export function truncate(s: string, n: number, ellipsis = '…'): string {
  if (charCount(s) <= n) return s;
  const budget = n - charCount(ellipsis);
  if (budget <= 0) return [...ellipsis].slice(0, Math.max(0, n)).join('');
  let out = '';
  let used = 0;
  for (const { segment } of segmenter.segment(s)) {
    const len = charCount(segment);
    if (used + len > budget) break;
    out += segment;
    used += len;
  }
  return out.trimEnd() + ellipsis;
}
