/**
 * The fake Graph API's HTTP surface: one express Router answering `/:version/...` (and unversioned
 * paths) the way Meta does, recording every call, accepted or rejected.
 */
import type { EchoDelivery } from './echo.js';
import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';

import { LIMITS } from '../../messenger/limits.js';
import { InvalidParam, metaErrors, type Reply } from './errors.js';
import {
  parseRecipient,
  parseSendBody,
  parseSubscribedFields,
  peekRecipient,
  validateMessengerProfile,
  validateProfileFieldNames,
} from './limits.js';
import type { CallPreview, FakeGraphState, FakePage, FaultSpec, RecordedCall } from './state.js';

export interface RouterContext {
  state: FakeGraphState;
  appSecret: string;
  appId: string;
  now: () => Date;
  latencyMs: () => number;
  /** Meta's "Require App Secret" app setting (default on). */
  requireProof: boolean;
  /** When set, requests for another version are refused (stricter than Meta, to catch misconfiguration). */
  version: string | undefined;
  /** Open timers of hanging (timeout-fault) requests, cleared on close/reset. */
  hanging: Set<NodeJS.Timeout>;
  /** `message_echoes` delivery to the bot's webhook (off unless configured). */
  echoes?: EchoDelivery;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const MIN_MAJOR_VERSION = 24;
const PAGE_EDGES = new Set([
  'messages',
  'messenger_profile',
  'subscribed_apps',
  'pass_thread_control',
  'take_thread_control',
]);
const PROFILE_FIELDS = new Set([
  'id',
  'name',
  'first_name',
  'last_name',
  'profile_pic',
  'locale',
  'timezone',
  'gender',
]);

function firstString(...vs: unknown[]): string | undefined {
  for (const v of vs) {
    if (typeof v === 'string' && v.length > 0) return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return undefined;
}

function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Parsed {
  method: string;
  path: string;
  version: string | undefined;
  segments: string[];
  query: Obj;
  body: Obj;
  token: string | undefined;
  proof: string | undefined;
}

type Auth = { kind: 'page'; page: FakePage } | { kind: 'app' };

export function createFakeGraphRouter(ctx: RouterContext): Router {
  const router = express.Router();
  router.use(express.json({ limit: '2mb' }));
  router.use(express.urlencoded({ extended: true, limit: '2mb' }));
  router.use((req: Request, res: Response, next: NextFunction) => {
    handle(ctx, req, res).catch(next);
  });
  // Malformed JSON and other parser failures: Meta answers 100.
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = isObj(err) && typeof err.status === 'number' && err.status < 500 ? err.status : 500;
    const reply =
      status < 500
        ? metaErrors.param(`Invalid request body: ${err instanceof Error ? err.message : String(err)}`)
        : metaErrors.serverError();
    ctx.state.calls.push({
      at: ctx.now(),
      method: req.method,
      path: req.path,
      query: { ...(req.query as Obj) },
      body: null,
      status: reply.status,
      response: reply.body,
    });
    res.status(reply.status).json(reply.body);
  });
  return router;
}

async function handle(ctx: RouterContext, req: Request, res: Response): Promise<void> {
  const at = ctx.now();
  const p = parse(req);
  const auth = resolveAuth(ctx, p.token);
  const preview: CallPreview = {
    at,
    method: p.method,
    path: p.path,
    query: p.query,
    body: req.body === undefined ? null : (req.body as unknown),
  };
  const pageId = pageIdOf(ctx, p, auth);
  if (pageId !== undefined) preview.pageId = pageId;
  const recipient = p.segments[1] === 'messages' ? peekRecipient(p.body) : undefined;
  if (recipient !== undefined) preview.recipient = recipient;

  const fault = ctx.state.takeFault(preview);
  const latency = ctx.latencyMs();
  if (latency > 0) await sleep(latency);

  if (fault?.kind === 'timeout') {
    if (fault.delivered) dispatch(ctx, p, auth); // processed, but the answer never comes
    hang(ctx, res, fault);
    ctx.state.calls.push({ ...preview, status: 0, response: null });
    return;
  }
  const reply = fault ? faultReply(fault) : dispatch(ctx, p, auth);
  const call: RecordedCall = { ...preview, status: reply.status, response: reply.body };
  ctx.state.calls.push(call);
  res.status(reply.status).json(reply.body);
}

function hang(ctx: RouterContext, res: Response, fault: FaultSpec): void {
  const timer = setTimeout(() => {
    ctx.hanging.delete(timer);
    res.socket?.destroy();
  }, fault.hangMs ?? 30_000);
  ctx.hanging.add(timer);
}

function faultReply(f: FaultSpec): Reply {
  switch (f.kind) {
    case '5xx':
      return metaErrors.serverError();
    case '613':
      return metaErrors.rateLimited();
    case '551':
      return metaErrors.unavailable();
    case '190':
      return metaErrors.expiredToken();
    case 'timeout':
      return metaErrors.serverError(); // not reached: timeouts hang
  }
}

function parse(req: Request): Parsed {
  const segments = req.path
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => decodeURIComponent(s));
  let version: string | undefined;
  if (segments[0] !== undefined && /^v\d+\.\d+$/.test(segments[0])) version = segments.shift();
  const query = { ...(req.query as Obj) };
  const body: Obj = isObj(req.body) ? (req.body as Obj) : {};
  const authz = req.get('authorization');
  const bearer = authz ? /^(?:Bearer|OAuth)\s+(.+)$/i.exec(authz)?.[1] : undefined;
  return {
    method: req.method,
    path: req.path,
    version,
    segments,
    query,
    body,
    token: firstString(query.access_token, body.access_token, bearer),
    proof: firstString(query.appsecret_proof, body.appsecret_proof),
  };
}

function resolveAuth(ctx: RouterContext, token: string | undefined): Auth | Reply {
  if (token === undefined) return metaErrors.missingToken();
  if (ctx.state.revoked.has(token)) return metaErrors.revokedToken();
  const page = ctx.state.tokens.get(token);
  if (page) return { kind: 'page', page };
  if (token === `${ctx.appId}|${ctx.appSecret}`) return { kind: 'app' };
  return metaErrors.invalidToken();
}

const isReply = (a: Auth | Reply): a is Reply => 'status' in a;

function pageIdOf(ctx: RouterContext, p: Parsed, auth: Auth | Reply): string | undefined {
  const first = p.segments[0];
  if (first === 'me') return !isReply(auth) && auth.kind === 'page' ? auth.page.id : undefined;
  if (first !== undefined && ctx.state.pages.has(first)) return first;
  if (first !== undefined && ctx.state.comments.has(first)) return ctx.state.comments.get(first)?.pageId;
  return !isReply(auth) && auth.kind === 'page' ? auth.page.id : undefined;
}

function dispatch(ctx: RouterContext, p: Parsed, auth: Auth | Reply): Reply {
  try {
    return route(ctx, p, auth);
  } catch (e) {
    if (e instanceof InvalidParam) return metaErrors.param(e.message, e.subcode);
    throw e;
  }
}

function route(ctx: RouterContext, p: Parsed, authOrError: Auth | Reply): Reply {
  if (p.version !== undefined) {
    const major = Number(p.version.slice(1).split('.')[0]);
    if (major < MIN_MAJOR_VERSION) {
      return metaErrors.param(
        `Graph API ${p.version} has expired; this fake refuses it (use v24.0 or later)`,
      );
    }
    if (ctx.version !== undefined && p.version !== ctx.version) {
      return metaErrors.param(`this fake Graph API is configured for ${ctx.version}, got ${p.version}`);
    }
  }
  if (isReply(authOrError)) return authOrError;
  const auth = authOrError;
  const proofError = checkProof(ctx, p);
  if (proofError) return proofError;

  const [first, edge, ...rest] = p.segments;
  const m = p.method;
  if (first === undefined || rest.length > 0) return metaErrors.unsupported(m, p.segments.join('/'));

  if (first === 'debug_token' && edge === undefined && m === 'GET') return debugToken(ctx, p, auth);
  if (edge === 'ids_for_pages' && m === 'GET') return idsForPages(ctx, first, auth);

  // Page-token-only from here.
  if (auth.kind !== 'page') return metaErrors.pageTokenRequired();
  const page = auth.page;

  const isPageRef = first === 'me' || ctx.state.pages.has(first);
  if (isPageRef) {
    if (first !== 'me' && first !== page.id) return metaErrors.unsupported(m, first);
    if (edge === undefined) {
      if (m !== 'GET') return metaErrors.unsupported(m, first);
      return pageInfo(page, p);
    }
    if (!PAGE_EDGES.has(edge)) return metaErrors.unsupported(m, `${first}/${edge}`);
    if (edge === 'messages' && m === 'POST') return send(ctx, page, p);
    if (edge === 'messenger_profile') return messengerProfile(ctx, page, p);
    if (edge === 'subscribed_apps') return subscribedApps(ctx, page, p);
    if (edge === 'pass_thread_control' && m === 'POST') return threadControl(ctx, page, p, 'pass');
    if (edge === 'take_thread_control' && m === 'POST') return threadControl(ctx, page, p, 'take');
    return metaErrors.unsupported(m, `${first}/${edge}`);
  }

  if (edge === 'comments' && m === 'POST') return publicReply(ctx, page, first, p);
  if (edge === undefined && m === 'GET') return profile(ctx, page, first, p);
  return metaErrors.unsupported(m, edge === undefined ? first : `${first}/${edge}`);
}

/** ID Matching API: app token only (Meta refuses page tokens here). */
function idsForPages(ctx: RouterContext, asid: string, auth: Auth): Reply {
  if (auth.kind !== 'app') return metaErrors.appTokenRequired();
  const ids = ctx.state.idsForPages(asid);
  if (ids.length === 0) return metaErrors.unsupported('GET', asid);
  const data = ids.map(({ psid, pageId }) => ({
    id: psid,
    page: { id: pageId, name: ctx.state.pages.get(pageId)?.name ?? '' },
  }));
  return { status: 200, body: { data, paging: { cursors: { before: 'MAZDZD', after: 'MAZDZD' } } } };
}

function checkProof(ctx: RouterContext, p: Parsed): Reply | undefined {
  if (p.proof === undefined) return ctx.requireProof ? metaErrors.proofMissing() : undefined;
  const expected = createHmac('sha256', ctx.appSecret)
    .update(p.token ?? '')
    .digest('hex');
  return safeEqualHex(p.proof.toLowerCase(), expected) ? undefined : metaErrors.proofInvalid();
}

function fieldsOf(p: Parsed): string[] | undefined {
  const f = firstString(p.query.fields, p.body.fields);
  return f === undefined
    ? undefined
    : f
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
}

function pageInfo(page: FakePage, p: Parsed): Reply {
  const fields = fieldsOf(p) ?? ['name', 'id'];
  const out: Obj = { id: page.id };
  for (const f of fields) {
    if (f === 'id') continue;
    if (f === 'name') out.name = page.name;
    else return metaErrors.param(`Tried accessing nonexisting field (${f}) on node type (Page)`);
  }
  return { status: 200, body: out };
}

function debugToken(ctx: RouterContext, p: Parsed, auth: Auth): Reply {
  const input = firstString(p.query.input_token, p.body.input_token);
  if (input === undefined) return metaErrors.param('The parameter input_token is required');
  if (auth.kind === 'page' && input !== p.token) {
    return metaErrors.param('debug_token with a page token can only inspect that token');
  }
  const base = { app_id: ctx.appId, application: 'Fake Graph API app', type: 'PAGE', expires_at: 0 };
  const scopes = [
    'pages_messaging',
    'pages_manage_metadata',
    'pages_show_list',
    'pages_read_engagement',
    'pages_manage_engagement',
  ];
  if (ctx.state.revoked.has(input)) {
    return {
      status: 200,
      body: {
        data: {
          ...base,
          is_valid: false,
          scopes: [],
          error: {
            code: 190,
            subcode: 460,
            message: 'The session has been invalidated because the user changed their password.',
          },
        },
      },
    };
  }
  const page = ctx.state.tokens.get(input);
  if (!page) {
    return {
      status: 200,
      body: {
        data: { is_valid: false, scopes: [], error: { code: 190, message: 'Invalid OAuth access token.' } },
      },
    };
  }
  return { status: 200, body: { data: { ...base, is_valid: true, profile_id: page.id, scopes } } };
}

// ---------------------------------------------------------------------------------------------
// Send API

function send(ctx: RouterContext, page: FakePage, p: Parsed): Reply {
  const s = ctx.state;
  const now = ctx.now();
  const parsed = parseSendBody(p.body);

  if (parsed.kind === 'sender_action') {
    const psid = parsed.recipient.value;
    if (!s.isKnown(page.id, psid)) return metaErrors.noMatchingUser();
    if (s.isUnreachable(page.id, psid)) return metaErrors.unavailable();
    s.senderActions.push({ at: now, pageId: page.id, psid, action: parsed.action });
    return { status: 200, body: { recipient_id: psid } };
  }

  const r = parsed.recipient;
  const record = (psid: string | null, extra: { commentId?: string } = {}): Reply => {
    const messageId = s.newMessageId();
    const msg = {
      at: now,
      pageId: page.id,
      messageId,
      recipient: { [r.type]: r.value },
      psid,
      message: parsed.message,
      ...extra,
      ...(parsed.messagingType === undefined ? {} : { messagingType: parsed.messagingType }),
      ...(parsed.tag === undefined ? {} : { tag: parsed.tag }),
      ...(parsed.notificationType === undefined ? {} : { notificationType: parsed.notificationType }),
      ...(parsed.metadata === undefined ? {} : { metadata: parsed.metadata }),
    };
    s.messages.push(msg);
    // Meta echoes every accepted send (with its metadata) to apps subscribed to message_echoes.
    if (psid !== null && parsed.metadata !== undefined) {
      ctx.echoes?.echo({
        pageId: page.id,
        psid,
        mid: messageId,
        metadata: parsed.metadata,
        message: parsed.message,
        at: now,
      });
    }
    const body: Obj = { message_id: messageId };
    if (psid !== null) body.recipient_id = psid;
    return { status: 200, body };
  };

  switch (r.type) {
    case 'id': {
      const psid = r.value;
      if (!s.isKnown(page.id, psid)) return metaErrors.noMatchingUser();
      if (s.isUnreachable(page.id, psid)) return metaErrors.unavailable();
      const last = s.lastInteraction(page.id, psid);
      const since = last === undefined ? Infinity : now.getTime() - last.getTime();
      if (parsed.messagingType === 'RESPONSE' || parsed.messagingType === 'UPDATE') {
        if (!(since < 24 * 60 * 60 * 1000)) return metaErrors.outsideWindow();
      } else if (parsed.tag === 'HUMAN_AGENT') {
        if (!(since < LIMITS.humanAgentWindowMs)) return metaErrors.outsideWindow();
      } else if (last === undefined) {
        // A tag needs an existing conversation: the person must have written to the page once.
        return metaErrors.outsideWindow();
      }
      return record(psid);
    }
    case 'comment_id': {
      const c = s.comments.get(r.value);
      if (!c || c.pageId !== page.id) {
        return metaErrors.param(`Param recipient[comment_id] must be a valid comment ID (${r.value})`);
      }
      if (c.fromId === page.id) return metaErrors.cannotReply("the Page's own comment");
      if (s.privateReplied.has(c.commentId)) return metaErrors.alreadyReplied();
      if (now.getTime() - c.createdTime.getTime() > LIMITS.privateReplyMaxAgeMs) {
        // Meta's exact code for "older than 7 days" is UNCONFIRMED; 10903 ("can't reply") is the
        // closest documented one and has the right consequence (mark the comment handled).
        return metaErrors.cannotReply('the comment is older than 7 days');
      }
      const psid = s.psidForCommenter(page.id, c);
      if (s.isUnreachable(page.id, psid)) return metaErrors.unavailable();
      const reply = record(psid, { commentId: c.commentId });
      s.privateReplied.set(c.commentId, (reply.body as Obj).message_id as string);
      s.markKnown(page.id, psid);
      return reply;
    }
    case 'notification_messages_token':
      // Marketing Messages: accepted and recorded; the 48 h cap is the policy's job (not enforced here).
      return record(null);
    default:
      return metaErrors.param(`recipient[${r.type}] is not supported by the fake Graph API`);
  }
}

function publicReply(ctx: RouterContext, page: FakePage, commentId: string, p: Parsed): Reply {
  const c = ctx.state.comments.get(commentId);
  if (!c || c.pageId !== page.id) return metaErrors.unsupported('POST', commentId);
  const message = firstString(p.body.message, p.query.message);
  if (message === undefined || message.trim().length === 0) {
    return metaErrors.param('Missing message or attachment');
  }
  const id = ctx.state.newObjectId(c.postId.split('_').pop() ?? c.postId);
  ctx.state.publicReplies.push({ at: ctx.now(), pageId: page.id, commentId, id, message });
  return { status: 200, body: { id } };
}

// ---------------------------------------------------------------------------------------------
// User Profile API

function profile(ctx: RouterContext, page: FakePage, psid: string, p: Parsed): Reply {
  const fields = fieldsOf(p) ?? ['first_name', 'last_name', 'profile_pic'];
  for (const f of fields) {
    if (!PROFILE_FIELDS.has(f))
      return metaErrors.param(`Tried accessing nonexisting field (${f}) on node type (User)`);
  }
  const u = ctx.state.findUser(page.id, psid);
  if (!u) return metaErrors.noProfile();
  const all: Obj = {
    id: u.psid,
    first_name: u.firstName,
    last_name: u.lastName,
    name: `${u.firstName} ${u.lastName}`.trim(),
    profile_pic: u.profilePic ?? `https://platform-lookaside.fbsbx.com/platform/profilepic/?psid=${u.psid}`,
    locale: u.locale,
    timezone: u.timezone,
  };
  const out: Obj = { id: u.psid };
  for (const f of fields) if (all[f] !== undefined) out[f] = all[f];
  return { status: 200, body: out };
}

// ---------------------------------------------------------------------------------------------
// Messenger Profile API (10 calls / 10 min / page)

function messengerProfile(ctx: RouterContext, page: FakePage, p: Parsed): Reply {
  const s = ctx.state;
  if (
    !s.takeProfileCall(
      page.id,
      ctx.now().getTime(),
      LIMITS.messengerProfileCallsMax,
      LIMITS.messengerProfileWindowMs,
    )
  ) {
    return metaErrors.rateLimited();
  }
  const current = s.messengerProfiles.get(page.id) ?? {};
  if (p.method === 'GET') {
    const fields = validateProfileFieldNames(firstString(p.query.fields) ?? '');
    const data: Obj = {};
    for (const f of fields) if (current[f] !== undefined) data[f] = current[f];
    return { status: 200, body: { data: Object.keys(data).length > 0 ? [data] : [] } };
  }
  if (p.method === 'DELETE') {
    const fields = validateProfileFieldNames(p.body.fields ?? p.query.fields);
    const next = { ...current };
    for (const f of fields) delete next[f];
    s.messengerProfiles.set(page.id, next);
    return { status: 200, body: { result: 'success' } };
  }
  if (p.method !== 'POST') return metaErrors.unsupported(p.method, `${page.id}/messenger_profile`);
  const update = validateMessengerProfile(p.body, current.get_started !== undefined);
  s.messengerProfiles.set(page.id, { ...current, ...update });
  return { status: 200, body: { result: 'success' } };
}

function subscribedApps(ctx: RouterContext, page: FakePage, p: Parsed): Reply {
  const s = ctx.state;
  if (p.method === 'GET') {
    const fields = s.subscriptions.get(page.id);
    return {
      status: 200,
      body: {
        data: fields ? [{ name: 'Fake Graph API app', id: ctx.appId, subscribed_fields: fields }] : [],
      },
    };
  }
  if (p.method === 'DELETE') {
    s.subscriptions.delete(page.id);
    return { status: 200, body: { success: true } };
  }
  if (p.method !== 'POST') return metaErrors.unsupported(p.method, `${page.id}/subscribed_apps`);
  const fields = parseSubscribedFields(p.query.subscribed_fields ?? p.body.subscribed_fields);
  s.subscriptions.set(page.id, fields);
  return { status: 200, body: { success: true } };
}

function threadControl(ctx: RouterContext, page: FakePage, p: Parsed, op: 'pass' | 'take'): Reply {
  const r = parseRecipient(p.body.recipient ?? p.query.recipient);
  if (r.type !== 'id') throw new InvalidParam('param recipient must be {id}');
  if (!ctx.state.isKnown(page.id, r.value)) return metaErrors.noMatchingUser();
  const metadata = firstString(p.body.metadata, p.query.metadata);
  if (metadata !== undefined && metadata.length > LIMITS.metadataMaxChars) {
    throw new InvalidParam(`Length of param metadata must be less than 1000`);
  }
  if (op === 'pass') {
    const target = p.body.target_app_id ?? p.query.target_app_id;
    const targetId = typeof target === 'number' ? String(target) : firstString(target);
    if (targetId === undefined || !/^\d+$/.test(targetId)) {
      throw new InvalidParam('The parameter target_app_id is required');
    }
    ctx.state.setThreadOwner(page.id, r.value, targetId);
  } else {
    ctx.state.setThreadOwner(page.id, r.value, ctx.appId);
  }
  return { status: 200, body: { success: true } };
}
