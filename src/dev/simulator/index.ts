import { createHash, randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Config } from '../../config/index.js';
import type { Logger } from '../../log.js';
import {
  changesBody,
  commentChange,
  messageEvent,
  messagingBody,
  newCommentId,
  postbackEvent,
  postSignedWebhook,
  referralEvent,
  type WebhookBody,
} from '../webhook-payloads.js';
import {
  SimulatorState,
  type FakeGraphLike,
  type FanActionKind,
  type MessengerProfile,
  type SimComment,
  type SimFan,
  type SimulatorPost,
} from './state.js';

export type { FakeGraphLike, SimulatorPost, ThreadItem, SimFan } from './state.js';
export { SimulatorState } from './state.js';

export interface SimulatorOptions {
  config: Pick<Config, 'facebook'>;
  fakeGraph: FakeGraphLike;
  /** The bot's webhook, e.g. `http://127.0.0.1:3000/api/messages`. */
  webhookUrl: string;
  log: Logger;
  posts: () => SimulatorPost[] | Promise<SimulatorPost[]>;
  /** Demo fans registered at start (default: Giulia, Marco, Emma, Liam). */
  demoFans?: Omit<SimFan, 'demo'>[];
}

/** Stable ids, so a restarted simulator talks to the same fans the bot's database remembers. */
export const DEMO_FANS: readonly Omit<SimFan, 'demo'>[] = Object.freeze([
  {
    psid: '7100000000000001',
    userId: '8100000000000001',
    firstName: 'Giulia',
    lastName: 'Rossi',
    locale: 'it_IT',
  },
  {
    psid: '7100000000000002',
    userId: '8100000000000002',
    firstName: 'Marco',
    lastName: 'Bianchi',
    locale: 'it_IT',
  },
  {
    psid: '7100000000000003',
    userId: '8100000000000003',
    firstName: 'Emma',
    lastName: 'Walker',
    locale: 'en_GB',
  },
  {
    psid: '7100000000000004',
    userId: '8100000000000004',
    firstName: 'Liam',
    lastName: 'Carter',
    locale: 'en_US',
  },
]);

const psidSchema = z.string().regex(/^\d{1,32}$/, 'must be a numeric PSID');
const name = z
  .string()
  .trim()
  .min(1)
  .max(40)
  .refine(
    (s) => ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
    'must not contain control characters',
  );

const fanInput = z.object({
  firstName: name,
  lastName: z.union([name, z.literal('')]).default(''),
  locale: z
    .string()
    .regex(/^[a-z]{2}_[A-Z]{2}$/, 'must look like it_IT')
    .default('it_IT'),
});

const sendInput = z
  .object({
    psid: psidSchema,
    kind: z.enum(['text', 'quick_reply', 'postback', 'get_started', 'referral']),
    text: z.string().min(1).max(2000).optional(),
    payload: z.string().min(1).max(1000).optional(),
    title: z.string().min(1).max(80).optional(),
    ref: z
      .string()
      .max(2083)
      .regex(/^[A-Za-z0-9_=-]+$/, 'must be [A-Za-z0-9_=-] (m.me ref)')
      .optional(),
  })
  .superRefine((v, ctx) => {
    const need = (k: 'text' | 'payload' | 'title' | 'ref') => {
      if (v[k] === undefined)
        ctx.addIssue({ code: 'custom', path: [k], message: `is required for kind ${v.kind}` });
    };
    if (v.kind === 'text') need('text');
    if (v.kind === 'quick_reply') need('text');
    if (v.kind === 'quick_reply') need('payload');
    if (v.kind === 'postback') need('payload');
    if (v.kind === 'postback') need('title');
    if (v.kind === 'referral') need('ref');
  });

const commentInput = z.object({
  psid: psidSchema,
  postId: z.string().min(1).max(100),
  parentId: z.string().min(1).max(100).optional(),
  message: z.string().trim().min(1).max(8000),
});

const threadQuery = z.object({ psid: psidSchema, after: z.coerce.number().int().min(0).default(0) });

const GET_STARTED_TITLE: Record<string, string> = { it: 'Inizia', en: 'Get Started' };

function publicDir(): string {
  const here = fileURLToPath(new URL('./public/', import.meta.url));
  if (existsSync(resolve(here, 'index.html'))) return here;
  // Compiled to dist/ without the static files: serve them from the sources.
  return resolve(process.cwd(), 'src/dev/simulator/public');
}

interface StaticAsset {
  body: string;
  type: string;
}

function loadAssets(): { html: StaticAsset; css: StaticAsset; csp: string } {
  const dir = publicDir();
  const html = readFileSync(resolve(dir, 'index.html'), 'utf8');
  const css = readFileSync(resolve(dir, 'simulator.css'), 'utf8');
  // The page's script is inline (one file, no bundler); allow exactly that script by its hash.
  const hashes = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
  const csp = [
    "default-src 'none'",
    `script-src ${hashes.join(' ') || "'none'"}`,
    "style-src 'self'",
    "img-src 'self' data: http: https:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    html: { body: html, type: 'text/html; charset=utf-8' },
    css: { body: css, type: 'text/css; charset=utf-8' },
    csp,
  };
}

function newId(digits: number): string {
  let s = String(randomInt(1, 10));
  for (let i = 1; i < digits; i++) s += String(randomInt(0, 10));
  return s;
}

function postTime(t: SimulatorPost['createdTime']): string {
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? new Date().toISOString() : d.toISOString();
}

function shortLocale(locale: string): string {
  return locale.slice(0, 2).toLowerCase();
}

/**
 * The simulator page and its JSON API. Mount at `/simulator` in simulator mode. Every fan action is a
 * real signed webhook POST to `webhookUrl`; what the fan sees is what the bot sent to the fake Graph API.
 */
export function createSimulatorRouter(opts: SimulatorOptions): express.Router {
  const { fakeGraph, webhookUrl } = opts;
  const log = opts.log.child({ module: 'simulator' });
  const page = opts.config.facebook.page;
  const appSecret = opts.config.facebook.appSecret;
  const state = new SimulatorState(page.id, () => fakeGraph.calls);
  const assets = loadAssets();

  const registerFan = (fan: SimFan): void => {
    state.addFan(fan);
    fakeGraph.addUser({
      psid: fan.psid,
      firstName: fan.firstName,
      lastName: fan.lastName,
      locale: fan.locale,
    });
  };
  for (const f of opts.demoFans ?? DEMO_FANS) registerFan({ ...f, demo: true });

  const post = async (body: WebhookBody): Promise<{ status: number; text: string }> => {
    try {
      return await postSignedWebhook(webhookUrl, body, appSecret, { timeoutMs: 25_000 });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'simulator: webhook unreachable');
      return { status: 0, text: (err as Error).message };
    }
  };

  const fanView = (f: SimFan) => ({
    psid: f.psid,
    firstName: f.firstName,
    lastName: f.lastName,
    locale: f.locale,
    demo: f.demo,
    hasThread: state.hasThread(f.psid),
    lastSeq: state.lastSeq(f.psid),
  });

  const currentProfile = (): MessengerProfile =>
    (fakeGraph.messengerProfile?.(page.id) as MessengerProfile | undefined) ?? state.profile;
  const profileView = () => {
    const p = currentProfile();
    return {
      getStarted: p.get_started ?? null,
      greeting: p.greeting ?? [],
      persistentMenu: p.persistent_menu ?? [],
      iceBreakers: p.ice_breakers ?? [],
    };
  };

  const router = express.Router();

  // --- The page ----------------------------------------------------------------------------
  const sendAsset = (res: Response, a: StaticAsset) => {
    res.set({
      'content-type': a.type,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': assets.csp,
    });
    res.send(a.body);
  };
  router.get('/', (req, res) => {
    // Relative URLs in the page need the trailing slash.
    const [path, query] = req.originalUrl.split('?') as [string, string | undefined];
    if (!path.endsWith('/')) {
      res.redirect(308, `${path}/${query !== undefined ? `?${query}` : ''}`);
      return;
    }
    sendAsset(res, assets.html);
  });
  router.get('/simulator.css', (_req, res) => sendAsset(res, assets.css));

  // --- JSON API ----------------------------------------------------------------------------
  const api = express.Router();
  api.use(express.json({ limit: '64kb' }));
  api.use((_req, res, next) => {
    res.set('cache-control', 'no-store');
    next();
  });

  api.get('/state', (_req, res) => {
    state.sync();
    res.json({
      page: { id: page.id, name: page.name },
      webhookUrl,
      cursor: state.cursor,
      fans: [...state.fans.values()].map(fanView),
      profile: profileView(),
    });
  });

  api.post('/fans', (req, res) => {
    const input = fanInput.parse(req.body);
    const fan: SimFan = { psid: newId(16), userId: newId(16), ...input, demo: false };
    registerFan(fan);
    log.info({ psid: fan.psid }, 'simulator: fan added');
    res.status(201).json(fanView(fan));
  });

  api.post('/send', async (req, res) => {
    const input = sendInput.parse(req.body);
    const fan = state.fans.get(input.psid);
    if (!fan) {
      res.status(404).json({ error: 'unknown_fan' });
      return;
    }
    const base = { pageId: page.id, psid: fan.psid };
    const kind: FanActionKind = input.kind;
    let event;
    let shown: { text?: string; payload?: string; title?: string; ref?: string };
    switch (kind) {
      case 'text':
        event = messageEvent({ ...base, text: input.text! });
        shown = { text: input.text! };
        break;
      case 'quick_reply':
        event = messageEvent({ ...base, text: input.text!, quickReplyPayload: input.payload! });
        shown = { text: input.text!, payload: input.payload! };
        break;
      case 'postback':
        event = postbackEvent({ ...base, payload: input.payload!, title: input.title! });
        shown = { payload: input.payload!, title: input.title! };
        break;
      case 'get_started': {
        const payload = input.payload ?? currentProfile().get_started?.payload ?? 'GET_STARTED';
        const title = GET_STARTED_TITLE[shortLocale(fan.locale)] ?? 'Get Started';
        event = postbackEvent({
          ...base,
          payload,
          title,
          ...(input.ref !== undefined ? { referral: { ref: input.ref } } : {}),
        });
        shown = { payload, title, ...(input.ref !== undefined ? { ref: input.ref } : {}) };
        break;
      }
      case 'referral':
        event = referralEvent({ ...base, ref: input.ref! });
        shown = { ref: input.ref! };
        break;
    }
    // As Meta does: the person's action opens (or refreshes) the 24 h window before the bot sees it.
    fakeGraph.noteUserInteraction(page.id, fan.psid, new Date(event.timestamp ?? Date.now()));
    const item = state.appendFanAction({ psid: fan.psid, kind, ...shown });
    const result = await post(messagingBody(page.id, event));
    item.webhookStatus = result.status;
    log.debug({ kind, status: result.status }, 'simulator: fan action delivered');
    res.json({ seq: item.seq, webhookStatus: result.status, webhookText: result.text.slice(0, 500) });
  });

  api.post('/comment', async (req, res) => {
    const input = commentInput.parse(req.body);
    const fan = state.fans.get(input.psid);
    if (!fan) {
      res.status(404).json({ error: 'unknown_fan' });
      return;
    }
    const posts = await opts.posts();
    if (!posts.some((p) => p.id === input.postId)) {
      res.status(404).json({ error: 'unknown_post' });
      return;
    }
    let parentId = input.postId;
    if (input.parentId !== undefined) {
      const parent = state.comments.get(input.parentId);
      if (!parent || parent.postId !== input.postId) {
        res.status(404).json({ error: 'unknown_comment' });
        return;
      }
      // Facebook threads one level deep: a reply to a reply belongs to the top-level comment.
      parentId = parent.parentId === parent.postId ? parent.id : parent.parentId;
    }
    const createdTime = Math.floor(Date.now() / 1000);
    const comment: SimComment = {
      id: newCommentId(input.postId),
      postId: input.postId,
      parentId,
      psid: fan.psid,
      fromId: fan.userId,
      fromName: `${fan.firstName} ${fan.lastName}`.trim(),
      message: input.message,
      createdTime,
      privateReply: false,
    };
    state.recordComment(comment);
    fakeGraph.noteComment(page.id, {
      commentId: comment.id,
      postId: comment.postId,
      fromId: comment.fromId,
      createdTime: new Date(createdTime * 1000),
      psid: comment.psid,
      message: comment.message,
    });
    const change = commentChange({
      pageId: page.id,
      verb: 'add',
      commentId: comment.id,
      postId: comment.postId,
      parentId: comment.parentId,
      from: { id: comment.fromId, name: comment.fromName },
      message: comment.message,
      createdTime,
    });
    const result = await post(changesBody(page.id, change));
    comment.webhookStatus = result.status;
    log.debug({ status: result.status }, 'simulator: comment delivered');
    res.json({ commentId: comment.id, webhookStatus: result.status, webhookText: result.text.slice(0, 500) });
  });

  api.get('/thread', (req, res) => {
    const q = threadQuery.parse(req.query);
    if (!state.fans.has(q.psid)) {
      res.status(404).json({ error: 'unknown_fan' });
      return;
    }
    const items = state.thread(q.psid, q.after);
    res.json({ items, cursor: state.cursor, profile: profileView() });
  });

  api.get('/posts', async (_req, res) => {
    const posts = await opts.posts();
    state.sync();
    const all = [...state.comments.values()].sort((a, b) => a.createdTime - b.createdTime);
    const repliesTo = (commentId: string) =>
      state.publicReplies
        .filter((r) => r.commentId === commentId)
        .map((r) => ({ id: r.id ?? null, message: r.message, at: r.at }));
    const commentView = (c: SimComment) => ({
      id: c.id,
      psid: c.psid,
      fromName: c.fromName,
      message: c.message,
      createdTime: c.createdTime,
      webhookStatus: c.webhookStatus ?? null,
      privateReply: c.privateReply,
      pageReplies: repliesTo(c.id),
    });
    res.json({
      page: { id: page.id, name: page.name },
      posts: posts.map((p) => ({
        id: p.id,
        message: p.message,
        imageUrl: p.imageUrl ?? null,
        createdTime: postTime(p.createdTime),
        comments: all
          .filter((c) => c.postId === p.id && c.parentId === p.id)
          .map((c) => ({
            ...commentView(c),
            replies: all.filter((r) => r.parentId === c.id).map(commentView),
          })),
        pageReplies: repliesTo(p.id),
      })),
    });
  });

  api.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  // express recognises an error handler by its 4 parameters.
  api.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof z.ZodError) {
      {
        res.status(400).json({
          error: 'invalid_request',
          issues: err.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
        });
        return;
      }
    }
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      {
        res.status(status).json({ error: 'bad_request', message: (err as Error).message });
        return;
      }
    }
    log.error({ err }, 'simulator: request failed');
    res.status(500).json({ error: 'internal' });
  });

  router.use('/api', api);
  return router;
}
