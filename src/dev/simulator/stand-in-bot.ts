import { createHmac, timingSafeEqual } from 'node:crypto';
import express from 'express';

/**
 * A deliberately tiny stand-in for the real bot, for the simulator's own tests and demo: it checks the
 * webhook signature over the raw bytes, answers 200 at once, then replies through the (fake) Graph API
 * over HTTP with each kind of message the simulator renders. Not product code.
 */

export interface StandInBotOptions {
  appSecret: string;
  /** Graph API base, e.g. `http://127.0.0.1:4000` (no version). */
  graphUrl: string;
  pageId: string;
  accessToken: string;
  version?: string;
}

export interface ReceivedWebhook {
  raw: Buffer;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  signatureValid: boolean;
}

export interface StandInBot {
  /** Handles `POST /api/messages`. */
  router: express.Router;
  received: ReceivedWebhook[];
  /** Get Started, greeting and persistent menu, through `POST /me/messenger_profile`. */
  setupProfile(): Promise<void>;
  /** Resolves when every reply started so far has been answered by the Graph API. */
  idle(): Promise<void>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function createStandInBot(o: StandInBotOptions): StandInBot {
  const version = o.version ?? 'v25.0';
  const proof = createHmac('sha256', o.appSecret).update(o.accessToken).digest('hex');
  const received: ReceivedWebhook[] = [];
  const pending = new Set<Promise<unknown>>();

  const graph = async (path: string, body: unknown): Promise<unknown> => {
    const qs = new URLSearchParams({ access_token: o.accessToken, appsecret_proof: proof });
    const res = await fetch(`${o.graphUrl}/${version}/${path}?${qs}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.json();
  };
  const send = (recipient: Obj, message: unknown) =>
    graph(`${o.pageId}/messages`, { recipient, messaging_type: 'RESPONSE', message });

  const carousel = {
    attachment: {
      type: 'template',
      payload: {
        template_type: 'generic',
        elements: [
          {
            title: 'Jeans 501 <b>blue</b>',
            subtitle: '€79 · 18 of 25 joined',
            image_url: 'http://127.0.0.1:9/offline.jpg',
            buttons: [
              { type: 'postback', title: 'Join group buy', payload: 'gb.join:v1:501' },
              { type: 'web_url', title: 'Details', url: 'https://example.com/501' },
            ],
          },
          {
            title: 'Denim jacket',
            subtitle: '€120',
            buttons: [{ type: 'postback', title: 'Join group buy', payload: 'gb.join:v1:jk' }],
          },
        ],
      },
    },
  };

  async function onMessaging(ev: Obj): Promise<void> {
    const sender = isObj(ev.sender) ? String(ev.sender.id) : '';
    const to = { id: sender };
    const message = isObj(ev.message) ? ev.message : undefined;
    if (message && message.is_echo) return;
    if (message && isObj(message.quick_reply)) {
      const payload = String(message.quick_reply.payload);
      if (payload === 'SHOW_CAROUSEL') await send(to, carousel);
      else await send(to, { text: `You picked ${payload}` });
      return;
    }
    if (message && typeof message.text === 'string') {
      await graph(`${o.pageId}/messages`, { recipient: to, sender_action: 'typing_on' });
      await send(to, {
        text: `You said: ${message.text}`,
        quick_replies: [
          { content_type: 'text', title: 'Show products', payload: 'SHOW_CAROUSEL' },
          { content_type: 'text', title: 'Size M', payload: 'SIZE_M' },
        ],
      });
      return;
    }
    if (isObj(ev.postback)) {
      const pb = ev.postback;
      const ref = isObj(pb.referral) ? ` (ref ${String(pb.referral.ref)})` : '';
      await send(to, {
        attachment: {
          type: 'template',
          payload: {
            template_type: 'button',
            text: `Postback ${String(pb.payload)}${ref}`,
            buttons: [{ type: 'postback', title: 'Products', payload: 'PRODUCTS' }],
          },
        },
      });
      return;
    }
    if (isObj(ev.referral)) await send(to, { text: `Welcome back via ${String(ev.referral.ref)}` });
  }

  async function onChange(change: Obj): Promise<void> {
    const v = isObj(change.value) ? change.value : undefined;
    if (change.field !== 'feed' || !v || v.item !== 'comment' || v.verb !== 'add') return;
    const fromId = isObj(v.from) ? String(v.from.id) : String(v.sender_id ?? '');
    if (fromId === o.pageId) return;
    const commentId = String(v.comment_id);
    await send({ comment_id: commentId }, { text: 'Thanks for your comment! Here are the details 👖' });
    await graph(`${commentId}/comments`, { message: 'We sent you a message 📩' });
  }

  const track = (p: Promise<unknown>) => {
    const q = p.catch(() => undefined).finally(() => pending.delete(q));
    pending.add(q);
  };

  const router = express.Router();
  router.post('/api/messages', express.raw({ type: '*/*', limit: '1mb' }), (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const header = req.get('x-hub-signature-256') ?? '';
    const expected = `sha256=${createHmac('sha256', o.appSecret).update(raw).digest('hex')}`;
    const signatureValid =
      header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
    let body: unknown = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = null;
    }
    received.push({ raw, headers: { ...req.headers }, body, signatureValid });
    if (!signatureValid) {
      res.status(403).send('bad signature');
      return;
    }
    res.status(200).send('EVENT_RECEIVED');
    if (!isObj(body) || !Array.isArray(body.entry)) return;
    for (const entry of body.entry as unknown[]) {
      if (!isObj(entry)) continue;
      for (const ev of (entry.messaging as unknown[] | undefined) ?? [])
        if (isObj(ev)) track(onMessaging(ev));
      for (const ch of (entry.changes as unknown[] | undefined) ?? []) if (isObj(ch)) track(onChange(ch));
    }
  });

  return {
    router,
    received,
    setupProfile: async () => {
      await graph('me/messenger_profile', {
        get_started: { payload: 'GET_STARTED' },
        greeting: [
          { locale: 'default', text: 'Hi {{user_first_name}}! Shop and join group buys.' },
          { locale: 'it_IT', text: 'Ciao {{user_first_name}}! Acquista e partecipa ai gruppi.' },
        ],
        persistent_menu: [
          {
            locale: 'default',
            composer_input_disabled: false,
            call_to_actions: [
              { type: 'postback', title: 'Shop', payload: 'MENU_SHOP' },
              { type: 'web_url', title: 'Website', url: 'https://example.com' },
            ],
          },
        ],
      });
    },
    idle: async () => {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
