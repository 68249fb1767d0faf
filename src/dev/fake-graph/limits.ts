/**
 * Validation of what the fake Graph API receives, against the same limits table the builders use
 * (src/messenger/limits.ts). Written independently of the builders on purpose: it checks raw JSON, so
 * a bug in a builder (or a message built by hand) is caught here as Meta would catch it: error 100.
 */
import {
  BUTTON_TYPES,
  LIMITS,
  MEDIA_ATTACHMENT_TYPES,
  MESSAGE_TAGS,
  MESSAGING_TYPES,
  NOTIFICATION_TYPES,
  SENDER_ACTIONS,
  charCount,
  type MessageTag,
  type MessagingType,
  type SenderAction,
} from '../../messenger/limits.js';
import { InvalidParam } from './errors.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Form-encoded callers send nested objects as JSON strings; Meta accepts both. */
function maybeJson(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  if (!t.startsWith('{') && !t.startsWith('[')) return v;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    throw new InvalidParam(`Invalid JSON for param: ${t.slice(0, 40)}`);
  }
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function requireString(v: unknown, param: string): string {
  const s = str(v);
  if (s === undefined || s.length === 0) throw new InvalidParam(`The parameter ${param} is required`);
  return s;
}

function checkLength(s: string, param: string, max: number): void {
  const n = charCount(s);
  if (n > max)
    throw new InvalidParam(`Length of param ${param} must be less than or equal to ${max} (got ${n})`);
}

function checkUrl(v: unknown, param: string): void {
  const s = requireString(v, param);
  try {
    const u = new URL(s);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
  } catch {
    throw new InvalidParam(`Param ${param} must be a valid URL`);
  }
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], param: string): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new InvalidParam(`Param ${param} must be one of {${allowed.join(', ')}} - got "${String(v)}"`);
  }
  return v as T;
}

function array(v: unknown, param: string): unknown[] {
  const a = maybeJson(v);
  if (!Array.isArray(a)) throw new InvalidParam(`Param ${param} must be an array`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Send API

export type RecipientType = 'id' | 'comment_id' | 'post_id' | 'user_ref' | 'notification_messages_token';
const RECIPIENT_TYPES: readonly RecipientType[] = [
  'id',
  'comment_id',
  'post_id',
  'user_ref',
  'notification_messages_token',
];

export interface RecipientRef {
  type: RecipientType;
  value: string;
}

export type ParsedSend =
  | { kind: 'sender_action'; recipient: RecipientRef; action: SenderAction }
  | {
      kind: 'message';
      recipient: RecipientRef;
      messagingType: MessagingType | undefined;
      tag: MessageTag | undefined;
      message: Obj;
      notificationType: string | undefined;
      metadata: string | undefined;
    };

/** Best-effort recipient extraction for call records (never throws). */
export function peekRecipient(body: unknown): Record<string, string> | undefined {
  if (!isObj(body)) return undefined;
  let r: unknown;
  try {
    r = maybeJson(body.recipient);
  } catch {
    return undefined;
  }
  if (!isObj(r)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r)) {
    const s = str(v);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

export function parseRecipient(v: unknown): RecipientRef {
  const r = maybeJson(v);
  if (!isObj(r)) throw new InvalidParam('The parameter recipient is required');
  const keys = Object.keys(r).filter((k) => r[k] !== undefined && r[k] !== null);
  if (keys.length !== 1) {
    throw new InvalidParam(`param recipient must have exactly one of {${RECIPIENT_TYPES.join(', ')}}`);
  }
  const type = oneOf(keys[0], RECIPIENT_TYPES, 'recipient');
  return { type, value: requireString(r[type], `recipient[${type}]`) };
}

export function parseSendBody(body: unknown): ParsedSend {
  if (!isObj(body)) throw new InvalidParam('The parameter recipient is required');
  const recipient = parseRecipient(body.recipient);

  if (body.sender_action !== undefined) {
    const action = oneOf(body.sender_action, SENDER_ACTIONS, 'sender_action');
    if (body.message !== undefined) throw new InvalidParam('sender_action cannot be sent with message');
    if (recipient.type !== 'id') throw new InvalidParam('sender_action requires recipient[id]');
    return { kind: 'sender_action', recipient, action };
  }

  const message = maybeJson(body.message);
  if (!isObj(message)) throw new InvalidParam('The parameter message is required');

  let messagingType: MessagingType | undefined;
  if (body.messaging_type === undefined) {
    // Private replies (comment_id / post_id) are documented without it; everything else needs it.
    if (recipient.type === 'id' || recipient.type === 'user_ref') {
      throw new InvalidParam('The parameter messaging_type is required');
    }
  } else {
    messagingType = oneOf(body.messaging_type, MESSAGING_TYPES, 'messaging_type');
  }

  let tag: MessageTag | undefined;
  if (messagingType === 'MESSAGE_TAG') {
    if (body.tag === undefined)
      throw new InvalidParam('The parameter tag is required when messaging_type is MESSAGE_TAG');
    tag = oneOf(body.tag, MESSAGE_TAGS, 'tag');
  } else if (body.tag !== undefined) {
    throw new InvalidParam('Param tag can only be used with messaging_type MESSAGE_TAG');
  }

  let notificationType: string | undefined;
  if (body.notification_type !== undefined) {
    notificationType = oneOf(body.notification_type, NOTIFICATION_TYPES, 'notification_type');
  }

  let metadata: string | undefined;
  if (body.metadata !== undefined) {
    metadata = requireString(body.metadata, 'metadata');
    checkLength(metadata, 'metadata', LIMITS.metadataMaxChars);
  }

  validateMessage(message);
  return { kind: 'message', recipient, messagingType, tag, message, notificationType, metadata };
}

export function validateMessage(m: Obj): void {
  const hasText = m.text !== undefined;
  const hasAttachment = m.attachment !== undefined;
  if (hasText === hasAttachment) {
    throw new InvalidParam('param message must have exactly one of {text, attachment}');
  }
  if (hasText) {
    const text = requireString(m.text, 'message[text]');
    checkLength(text, 'message[text]', LIMITS.textMaxChars);
  } else {
    validateAttachment(m.attachment);
  }
  if (m.quick_replies !== undefined) validateQuickReplies(m.quick_replies);
}

function validateQuickReplies(v: unknown): void {
  const qrs = array(v, 'message[quick_replies]');
  if (qrs.length > LIMITS.quickRepliesMax) {
    throw new InvalidParam(
      `param message[quick_replies] must have at most ${LIMITS.quickRepliesMax} items (got ${qrs.length})`,
    );
  }
  qrs.forEach((qr, i) => {
    const p = `message[quick_replies][${i}]`;
    if (!isObj(qr)) throw new InvalidParam(`param ${p} must be an object`);
    const type = oneOf(qr.content_type, ['text', 'user_phone_number', 'user_email'], `${p}[content_type]`);
    if (type !== 'text') return;
    if (qr.image_url !== undefined) checkUrl(qr.image_url, `${p}[image_url]`);
    if (qr.title !== undefined || qr.image_url === undefined) {
      const title = requireString(qr.title, `${p}[title]`);
      checkLength(title, `${p}[title]`, LIMITS.quickReplyTitleMaxChars);
    }
    const payload = requireString(qr.payload, `${p}[payload]`);
    checkLength(payload, `${p}[payload]`, LIMITS.quickReplyPayloadMaxChars);
  });
}

function validateAttachment(v: unknown): void {
  const a = maybeJson(v);
  if (!isObj(a)) throw new InvalidParam('param message[attachment] must be an object');
  const type = oneOf(a.type, [...MEDIA_ATTACHMENT_TYPES, 'template'], 'message[attachment][type]');
  const payload = a.payload;
  if (!isObj(payload)) throw new InvalidParam('The parameter message[attachment][payload] is required');
  if (type !== 'template') {
    if (payload.attachment_id !== undefined) requireString(payload.attachment_id, 'attachment_id');
    else checkUrl(payload.url, 'message[attachment][payload][url]');
    return;
  }
  const tt = requireString(payload.template_type, 'message[attachment][payload][template_type]');
  if (tt === 'generic') validateGeneric(payload);
  else if (tt === 'button') validateButtonTemplate(payload);
  // Other template types (media, receipt, ...) are passed through unchecked by this fake.
}

function validateGeneric(payload: Obj): void {
  const base = 'message[attachment][payload][elements]';
  const elements = array(payload.elements, base);
  if (elements.length === 0) throw new InvalidParam(`param ${base} must be non-empty`);
  if (elements.length > LIMITS.genericElementsMax) {
    throw new InvalidParam(
      `param ${base} must have at most ${LIMITS.genericElementsMax} elements (got ${elements.length})`,
    );
  }
  elements.forEach((el, i) => {
    const p = `${base}[${i}]`;
    if (!isObj(el)) throw new InvalidParam(`param ${p} must be an object`);
    const title = requireString(el.title, `${p}[title]`);
    checkLength(title, `${p}[title]`, LIMITS.genericTitleMaxChars);
    if (el.subtitle !== undefined) {
      const subtitle = str(el.subtitle) ?? '';
      checkLength(subtitle, `${p}[subtitle]`, LIMITS.genericSubtitleMaxChars);
    }
    if (el.image_url !== undefined) checkUrl(el.image_url, `${p}[image_url]`);
    if (el.default_action !== undefined) {
      const da = el.default_action;
      if (!isObj(da) || da.type !== 'web_url') {
        throw new InvalidParam(`param ${p}[default_action][type] must be web_url`);
      }
      if (da.title !== undefined) throw new InvalidParam(`param ${p}[default_action] cannot have a title`);
      checkUrl(da.url, `${p}[default_action][url]`);
    }
    if (el.buttons !== undefined) {
      const buttons = array(el.buttons, `${p}[buttons]`);
      if (buttons.length > LIMITS.genericButtonsMax) {
        throw new InvalidParam(
          `param ${p}[buttons] must have at most ${LIMITS.genericButtonsMax} buttons (got ${buttons.length})`,
        );
      }
      buttons.forEach((b, j) => validateButton(b, `${p}[buttons][${j}]`));
    }
  });
}

function validateButtonTemplate(payload: Obj): void {
  const base = 'message[attachment][payload]';
  const text = requireString(payload.text, `${base}[text]`);
  checkLength(text, `${base}[text]`, LIMITS.buttonTemplateTextMaxChars);
  const buttons = array(payload.buttons, `${base}[buttons]`);
  if (buttons.length < LIMITS.buttonTemplateButtonsMin || buttons.length > LIMITS.buttonTemplateButtonsMax) {
    throw new InvalidParam(
      `param ${base}[buttons] must have ${LIMITS.buttonTemplateButtonsMin} to ${LIMITS.buttonTemplateButtonsMax} buttons (got ${buttons.length})`,
    );
  }
  buttons.forEach((b, j) => validateButton(b, `${base}[buttons][${j}]`));
}

function validateButton(b: unknown, p: string): void {
  if (!isObj(b)) throw new InvalidParam(`param ${p} must be an object`);
  const type = oneOf(b.type, BUTTON_TYPES, `${p}[type]`);
  const title = requireString(b.title, `${p}[title]`);
  checkLength(title, `${p}[title]`, LIMITS.buttonTitleMaxChars);
  if (type === 'web_url') checkUrl(b.url, `${p}[url]`);
  else {
    const payload = requireString(b.payload, `${p}[payload]`);
    checkLength(payload, `${p}[payload]`, LIMITS.buttonPayloadMaxChars);
    if (type === 'phone_number' && !/^\+\d{4,}$/.test(payload)) {
      throw new InvalidParam(
        `param ${p}[payload] must be a phone number in the format +<country code><number>`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Messenger Profile API

const PROFILE_FIELDS = [
  'get_started',
  'greeting',
  'persistent_menu',
  'ice_breakers',
  'whitelisted_domains',
  'account_linking_url',
] as const;
export type ProfileFieldName = (typeof PROFILE_FIELDS)[number];

export function validateProfileFieldNames(fields: unknown): ProfileFieldName[] {
  const list =
    typeof fields === 'string' && !fields.trim().startsWith('[')
      ? fields.split(',')
      : array(fields, 'fields');
  if (list.length === 0) throw new InvalidParam('The parameter fields is required');
  return list.map((f, i) => oneOf(typeof f === 'string' ? f.trim() : f, PROFILE_FIELDS, `fields[${i}]`));
}

/**
 * Validates a `POST /me/messenger_profile` body. `hasGetStarted`: whether the page already has a Get
 * Started button (the persistent menu requires one).
 */
export function validateMessengerProfile(body: unknown, hasGetStarted: boolean): Obj {
  if (!isObj(body)) throw new InvalidParam(`Requires one of the params: ${PROFILE_FIELDS.join(', ')}`);
  const profile: Obj = {};
  for (const [k, raw] of Object.entries(body)) {
    if (k === 'access_token' || k === 'appsecret_proof') continue;
    if (!(PROFILE_FIELDS as readonly string[]).includes(k)) {
      throw new InvalidParam(`Param ${k} is not a Messenger Profile property`);
    }
    profile[k] = maybeJson(raw);
  }
  if (Object.keys(profile).length === 0) {
    throw new InvalidParam(`Requires one of the params: ${PROFILE_FIELDS.join(', ')}`);
  }

  if (profile.get_started !== undefined) {
    const gs = profile.get_started;
    if (!isObj(gs)) throw new InvalidParam('param get_started must be an object');
    const payload = requireString(gs.payload, 'get_started[payload]');
    checkLength(payload, 'get_started[payload]', LIMITS.getStartedPayloadMaxChars);
  }

  if (profile.greeting !== undefined) {
    const greetings = array(profile.greeting, 'greeting');
    const locales = new Set<string>();
    greetings.forEach((g, i) => {
      if (!isObj(g)) throw new InvalidParam(`param greeting[${i}] must be an object`);
      const locale = requireString(g.locale, `greeting[${i}][locale]`);
      if (locales.has(locale)) throw new InvalidParam(`Duplicate locale ${locale} in greeting`);
      locales.add(locale);
      const text = requireString(g.text, `greeting[${i}][text]`);
      checkLength(text, `greeting[${i}][text]`, LIMITS.greetingTextMaxChars);
    });
    if (!locales.has('default')) throw new InvalidParam('greeting must include the locale "default"');
  }

  if (profile.persistent_menu !== undefined) {
    if (!hasGetStarted && profile.get_started === undefined) {
      throw new InvalidParam('You must set a Get Started button if you also wish to use persistent menu.');
    }
    const menus = array(profile.persistent_menu, 'persistent_menu');
    const locales = new Set<string>();
    menus.forEach((m, i) => {
      if (!isObj(m)) throw new InvalidParam(`param persistent_menu[${i}] must be an object`);
      const locale = requireString(m.locale, `persistent_menu[${i}][locale]`);
      if (locales.has(locale)) throw new InvalidParam(`Duplicate locale ${locale} in persistent_menu`);
      locales.add(locale);
      const composerDisabled = m.composer_input_disabled === true;
      if (m.call_to_actions === undefined && composerDisabled) {
        throw new InvalidParam(`persistent_menu[${i}] disables the composer without call_to_actions`);
      }
      if (m.call_to_actions === undefined) return;
      const items = array(m.call_to_actions, `persistent_menu[${i}][call_to_actions]`);
      items.forEach((it, j) => {
        const p = `persistent_menu[${i}][call_to_actions][${j}]`;
        if (!isObj(it)) throw new InvalidParam(`param ${p} must be an object`);
        const type = oneOf(it.type, ['postback', 'web_url'], `${p}[type]`);
        const title = requireString(it.title, `${p}[title]`);
        checkLength(title, `${p}[title]`, LIMITS.persistentMenuTitleMaxChars);
        if (type === 'web_url') checkUrl(it.url, `${p}[url]`);
        else {
          const payload = requireString(it.payload, `${p}[payload]`);
          checkLength(payload, `${p}[payload]`, LIMITS.buttonPayloadMaxChars);
        }
      });
    });
    if (!locales.has('default')) throw new InvalidParam('persistent_menu must include the locale "default"');
  }

  if (profile.ice_breakers !== undefined) {
    const list = array(profile.ice_breakers, 'ice_breakers');
    // Two shapes exist: [{question,payload}] (legacy) and [{locale, call_to_actions:[{question,payload}]}].
    const nested = list.some((x) => isObj(x) && x.call_to_actions !== undefined);
    const groups: { path: string; items: unknown[] }[] = nested
      ? list.map((g, i) => {
          if (!isObj(g)) throw new InvalidParam(`param ice_breakers[${i}] must be an object`);
          return {
            path: `ice_breakers[${i}][call_to_actions]`,
            items: array(g.call_to_actions, `ice_breakers[${i}]`),
          };
        })
      : [{ path: 'ice_breakers', items: list }];
    for (const g of groups) {
      if (g.items.length > LIMITS.iceBreakersMaxPerLocale) {
        throw new InvalidParam(
          `param ${g.path} must have at most ${LIMITS.iceBreakersMaxPerLocale} items (got ${g.items.length})`,
        );
      }
      g.items.forEach((q, j) => {
        if (!isObj(q)) throw new InvalidParam(`param ${g.path}[${j}] must be an object`);
        requireString(q.question, `${g.path}[${j}][question]`);
        const payload = requireString(q.payload, `${g.path}[${j}][payload]`);
        checkLength(payload, `${g.path}[${j}][payload]`, LIMITS.buttonPayloadMaxChars);
      });
    }
  }

  if (profile.whitelisted_domains !== undefined) {
    const domains = array(profile.whitelisted_domains, 'whitelisted_domains');
    if (domains.length > 50) throw new InvalidParam('param whitelisted_domains must have at most 50 items');
    domains.forEach((d, i) => {
      checkUrl(d, `whitelisted_domains[${i}]`);
      if (!String(d).startsWith('https://'))
        throw new InvalidParam(`whitelisted_domains[${i}] must be https`);
    });
  }

  return profile;
}

export const SUBSCRIBABLE_FIELDS = [
  'messages',
  'messaging_postbacks',
  'messaging_optins',
  'messaging_referrals',
  'message_deliveries',
  'message_reads',
  'message_echoes',
  'messaging_handovers',
  'standby',
  'message_reactions',
  'messaging_account_linking',
  'messaging_policy_enforcement',
  'feed',
] as const;

export function parseSubscribedFields(v: unknown): string[] {
  if (v === undefined || v === '') throw new InvalidParam('The parameter subscribed_fields is required');
  const list =
    typeof v === 'string' && !v.trim().startsWith('[') ? v.split(',') : array(v, 'subscribed_fields');
  return list.map((f, i) =>
    oneOf(typeof f === 'string' ? f.trim() : f, SUBSCRIBABLE_FIELDS, `subscribed_fields[${i}]`),
  );
}
