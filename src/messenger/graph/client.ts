/**
 * Our own Graph API client (axios). One instance per process, shared by every page: the page access
 * token is passed per call. Every call carries `access_token` and `appsecret_proof`
 * (HMAC-SHA256(access_token, app_secret), hex). The client never retries: it throws a typed
 * {@link GraphApiError} / {@link GraphNetworkError} and the outbox decides.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';

import type { OutgoingMessage } from '../builders.js';
import type { MessageTag, NotificationType, SenderAction } from '../limits.js';
import { GraphApiError, GraphNetworkError, type GraphCallInfo } from './errors.js';

export const DEFAULT_GRAPH_API_VERSION = 'v25.0';
/** Oldest version still usable (reference §9). Anything older (Botkit's v3.2!) is refused. */
export const MIN_GRAPH_API_VERSION = 'v24.0';
/** Meta's Page Inbox app, the usual `target_app_id` for a handover to humans. */
export const PAGE_INBOX_APP_ID = '263902037430900';

/** Structural subset of a pino logger. */
export interface GraphLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface GraphClientOptions {
  /** e.g. `https://graph.facebook.com`, or the fake Graph API's URL (a path prefix is allowed). */
  baseUrl: string;
  /** e.g. `v25.0`, from configuration. Versions older than {@link MIN_GRAPH_API_VERSION} throw. */
  version: string;
  appSecret: string;
  /** Per-call timeout (default 10 s). */
  timeoutMs?: number;
  log?: GraphLogger;
  /** Keep-alive agents are created by default; pass your own to share or tune them. */
  httpAgent?: http.Agent;
  httpsAgent?: https.Agent;
  maxSockets?: number;
}

export type Recipient =
  | { id: string }
  | { comment_id: string }
  | { post_id: string }
  | { user_ref: string }
  | { notification_messages_token: string };

interface SendBase {
  recipient: Recipient;
  message: OutgoingMessage;
  notification_type?: NotificationType;
  /** < 1000 chars; echoed back in `message_echoes`. */
  metadata?: string;
}
/** The Send API request body. A tag goes only with `MESSAGE_TAG`, and `MESSAGE_TAG` needs one. */
export type SendMessageBody = SendBase &
  (
    | { messaging_type: 'RESPONSE' | 'UPDATE'; tag?: never }
    | { messaging_type: 'MESSAGE_TAG'; tag: MessageTag }
  );

export interface SendResult {
  /** The PSID Meta delivered to (for a private reply: the commenter's PSID when Meta reveals it). */
  recipientId: string | null;
  messageId: string;
}

export type ProfileField =
  'first_name' | 'last_name' | 'profile_pic' | 'locale' | 'timezone' | 'gender' | 'name';

export interface UserProfile {
  id: string;
  firstName?: string;
  lastName?: string;
  name?: string;
  profilePic?: string;
  locale?: string;
  timezone?: number;
}

export type MenuItem =
  | { type: 'postback'; title: string; payload: string }
  | { type: 'web_url'; title: string; url: string; webview_height_ratio?: 'compact' | 'tall' | 'full' };

export interface MessengerProfile {
  get_started?: { payload: string };
  greeting?: { locale: string; text: string }[];
  persistent_menu?: { locale: string; composer_input_disabled?: boolean; call_to_actions: MenuItem[] }[];
  ice_breakers?: { locale?: string; call_to_actions: { question: string; payload: string }[] }[];
  whitelisted_domains?: string[];
}

export interface PageIdentity {
  id: string;
  name: string;
}

/** One answer of the ID Matching API: the person's PSID on one Page. */
export interface PageScopedId {
  readonly psid: string;
  readonly pageId: string;
}

export interface TokenInfo {
  isValid: boolean;
  appId?: string;
  type?: string;
  /** The page (or user) the token belongs to. */
  profileId?: string;
  scopes: string[];
  /** null = never expires. */
  expiresAt: Date | null;
  error?: { code?: number; subcode?: number; message?: string };
}

function parseVersion(v: string): [number, number] | null {
  const m = /^v(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function appSecretProof(accessToken: string, appSecret: string): string {
  return createHmac('sha256', appSecret).update(accessToken).digest('hex');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object';
}

export class GraphClient {
  readonly version: string;
  private readonly http: AxiosInstance;
  private readonly appSecret: string;
  private readonly timeoutMs: number;
  private readonly log: GraphLogger | undefined;
  private readonly ownAgents: (http.Agent | https.Agent)[] = [];

  constructor(opts: GraphClientOptions) {
    const v = parseVersion(opts.version);
    const min = parseVersion(MIN_GRAPH_API_VERSION)!;
    if (!v) throw new Error(`GraphClient: bad Graph API version "${opts.version}" (expected e.g. v25.0)`);
    if (v[0] < min[0] || (v[0] === min[0] && v[1] < min[1])) {
      throw new Error(
        `GraphClient: Graph API ${opts.version} has expired; use ${MIN_GRAPH_API_VERSION} or later`,
      );
    }
    if (!opts.appSecret) throw new Error('GraphClient: appSecret is required (appsecret_proof)');
    this.version = opts.version;
    this.appSecret = opts.appSecret;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.log = opts.log;
    const maxSockets = opts.maxSockets ?? 256;
    const httpAgent = opts.httpAgent ?? this.own(new http.Agent({ keepAlive: true, maxSockets }));
    const httpsAgent = opts.httpsAgent ?? this.own(new https.Agent({ keepAlive: true, maxSockets }));
    this.http = axios.create({
      baseURL: opts.baseUrl.replace(/\/+$/, ''),
      timeout: this.timeoutMs,
      httpAgent,
      httpsAgent,
      maxRedirects: 0,
      proxy: false,
      validateStatus: () => true,
      transitional: { clarifyTimeoutError: true },
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    });
  }

  private own<A extends http.Agent>(agent: A): A {
    this.ownAgents.push(agent);
    return agent;
  }

  /** Frees the keep-alive sockets of the agents this client created. */
  close(): void {
    for (const a of this.ownAgents) a.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Send API

  async sendMessage(token: string, pageId: string, body: SendMessageBody): Promise<SendResult> {
    const data = await this.request<unknown>('POST', `/${enc(pageId)}/messages`, token, { data: body });
    return toSendResult(data, 'id' in body.recipient ? body.recipient.id : null);
  }

  async sendSenderAction(
    token: string,
    pageId: string,
    psid: string,
    action: SenderAction,
  ): Promise<{ recipientId: string }> {
    const data = await this.request<unknown>('POST', `/${enc(pageId)}/messages`, token, {
      data: { recipient: { id: psid }, sender_action: action },
    });
    const rid = isObject(data) && typeof data.recipient_id === 'string' ? data.recipient_id : psid;
    return { recipientId: rid };
  }

  /** One private reply per comment, within 7 days of it (Meta answers 10900 / 10903 otherwise). */
  async privateReply(
    token: string,
    pageId: string,
    commentId: string,
    message: OutgoingMessage,
  ): Promise<SendResult> {
    const data = await this.request<unknown>('POST', `/${enc(pageId)}/messages`, token, {
      data: { recipient: { comment_id: commentId }, messaging_type: 'RESPONSE', message },
    });
    return toSendResult(data, null);
  }

  /** Public reply under a comment: `POST /{comment-id}/comments`. */
  async publicReply(token: string, commentId: string, text: string): Promise<{ id: string }> {
    const data = await this.request<unknown>('POST', `/${enc(commentId)}/comments`, token, {
      data: { message: text },
    });
    if (!isObject(data) || typeof data.id !== 'string')
      throw unexpected('POST', `/${commentId}/comments`, data);
    return { id: data.id };
  }

  // -------------------------------------------------------------------------------------------
  // Profiles and page setup

  async getProfile(
    token: string,
    psid: string,
    fields: readonly ProfileField[] = ['first_name', 'last_name', 'profile_pic'],
  ): Promise<UserProfile> {
    const data = await this.request<unknown>('GET', `/${enc(psid)}`, token, {
      params: { fields: fields.join(',') },
    });
    if (!isObject(data)) throw unexpected('GET', `/${psid}`, data);
    const p: UserProfile = { id: typeof data.id === 'string' ? data.id : psid };
    if (typeof data.first_name === 'string') p.firstName = data.first_name;
    if (typeof data.last_name === 'string') p.lastName = data.last_name;
    if (typeof data.name === 'string') p.name = data.name;
    if (typeof data.profile_pic === 'string') p.profilePic = data.profile_pic;
    if (typeof data.locale === 'string') p.locale = data.locale;
    if (typeof data.timezone === 'number') p.timezone = data.timezone;
    return p;
  }

  /** `POST /{page-id|me}/messenger_profile`. Meta allows 10 such calls per 10 minutes per Page. */
  async setMessengerProfile(
    token: string,
    pageId: string | undefined,
    profile: MessengerProfile,
  ): Promise<void> {
    const path = `/${pageId ? enc(pageId) : 'me'}/messenger_profile`;
    const data = await this.request<unknown>('POST', path, token, { data: profile });
    if (!isObject(data) || data.result !== 'success') throw unexpected('POST', path, data);
  }

  async subscribeApp(token: string, pageId: string, fields: readonly string[]): Promise<void> {
    const path = `/${enc(pageId)}/subscribed_apps`;
    const data = await this.request<unknown>('POST', path, token, {
      params: { subscribed_fields: fields.join(',') },
    });
    expectSuccess('POST', path, data);
  }

  // -------------------------------------------------------------------------------------------
  // Handover protocol

  async passThreadControl(
    token: string,
    pageId: string,
    psid: string,
    targetAppId: string,
    metadata?: string,
  ): Promise<void> {
    const path = `/${enc(pageId)}/pass_thread_control`;
    const body: Record<string, unknown> = { recipient: { id: psid }, target_app_id: targetAppId };
    if (metadata !== undefined) body.metadata = metadata;
    expectSuccess('POST', path, await this.request<unknown>('POST', path, token, { data: body }));
  }

  async takeThreadControl(token: string, pageId: string, psid: string, metadata?: string): Promise<void> {
    const path = `/${enc(pageId)}/take_thread_control`;
    const body: Record<string, unknown> = { recipient: { id: psid } };
    if (metadata !== undefined) body.metadata = metadata;
    expectSuccess('POST', path, await this.request<unknown>('POST', path, token, { data: body }));
  }

  // -------------------------------------------------------------------------------------------
  // Token health

  /** `GET /me` with a page token → the page. Throws a `token`-kind GraphApiError when it is dead. */
  async getMe(token: string): Promise<PageIdentity> {
    const data = await this.request<unknown>('GET', '/me', token, { params: { fields: 'id,name' } });
    if (!isObject(data) || typeof data.id !== 'string') throw unexpected('GET', '/me', data);
    return { id: data.id, name: typeof data.name === 'string' ? data.name : '' };
  }

  /** `GET /debug_token?input_token=…`, authenticated with `accessToken` (an app token, or the token itself). */
  async debugToken(inputToken: string, accessToken: string = inputToken): Promise<TokenInfo> {
    const data = await this.request<unknown>('GET', '/debug_token', accessToken, {
      params: { input_token: inputToken },
    });
    const d = isObject(data) && isObject(data.data) ? data.data : null;
    if (!d) throw unexpected('GET', '/debug_token', data);
    const info: TokenInfo = {
      isValid: d.is_valid === true,
      scopes: Array.isArray(d.scopes) ? d.scopes.filter((s): s is string => typeof s === 'string') : [],
      expiresAt: typeof d.expires_at === 'number' && d.expires_at > 0 ? new Date(d.expires_at * 1000) : null,
    };
    if (typeof d.app_id === 'string') info.appId = d.app_id;
    if (typeof d.type === 'string') info.type = d.type;
    if (typeof d.profile_id === 'string') info.profileId = d.profile_id;
    if (isObject(d.error)) {
      const err: NonNullable<TokenInfo['error']> = {};
      if (typeof d.error.code === 'number') err.code = d.error.code;
      if (typeof d.error.subcode === 'number') err.subcode = d.error.subcode;
      if (typeof d.error.message === 'string') err.message = d.error.message;
      info.error = err;
    }
    return info;
  }

  /**
   * Meta's ID Matching API: the page-scoped ids (PSIDs) a person has on the Pages of the app's business,
   * from their app-scoped id. `GET /{asid}/ids_for_pages` with the app access token; follows paging.
   */
  async idsForPages(appToken: string, asid: string): Promise<PageScopedId[]> {
    const out: PageScopedId[] = [];
    let after: string | undefined;
    // A person has a PSID per Page of the business: a few pages at most, so a small bound is safe.
    for (let page = 0; page < 20; page++) {
      const data = await this.request<unknown>('GET', `/${enc(asid)}/ids_for_pages`, appToken, {
        params: after ? { after } : {},
      });
      if (!isObject(data) || !Array.isArray(data.data))
        throw unexpected('GET', `/${asid}/ids_for_pages`, data);
      for (const item of data.data) {
        if (
          isObject(item) &&
          typeof item.id === 'string' &&
          isObject(item.page) &&
          typeof item.page.id === 'string'
        )
          out.push({ psid: item.id, pageId: item.page.id });
      }
      const cursors =
        isObject(data.paging) && isObject(data.paging.cursors) ? data.paging.cursors : undefined;
      const next = isObject(data.paging) && typeof data.paging.next === 'string';
      if (!next || typeof cursors?.after !== 'string') break;
      after = cursors.after;
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Low level

  /**
   * One Graph API call. `path` is relative to the version (e.g. `/me`). Resolves with the parsed JSON
   * of a 2xx answer; throws GraphApiError for an error answer, GraphNetworkError for no answer.
   */
  async request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    token: string,
    opts: { params?: Record<string, string>; data?: unknown } = {},
  ): Promise<T> {
    const call: GraphCallInfo = { method, path: `/${this.version}${path}` };
    const params = {
      ...opts.params,
      access_token: token,
      appsecret_proof: appSecretProof(token, this.appSecret),
    };
    const started = performance.now();
    let res: AxiosResponse<unknown>;
    try {
      res = await this.http.request<unknown>({
        method,
        url: call.path,
        params,
        data: opts.data,
        signal: AbortSignal.timeout(this.timeoutMs + 50),
      });
    } catch (err) {
      const ne = toNetworkError(err, call, this.timeoutMs);
      this.log?.warn(
        { graph: call, code: ne.code, timedOut: ne.timedOut, ms: Math.round(performance.now() - started) },
        'graph api call failed (network)',
      );
      throw ne;
    }
    const ms = Math.round(performance.now() - started);
    const body = res.data;
    if (res.status >= 400 || (isObject(body) && isObject(body.error))) {
      const e = new GraphApiError(res.status, body, call);
      this.log?.warn({ graph: call, ms, err: e.toJSON() }, 'graph api error');
      throw e;
    }
    this.log?.debug({ graph: call, status: res.status, ms }, 'graph api call');
    return body as T;
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function toSendResult(data: unknown, fallbackRecipient: string | null): SendResult {
  if (!isObject(data) || typeof data.message_id !== 'string') throw unexpected('POST', '/messages', data);
  return {
    recipientId: typeof data.recipient_id === 'string' ? data.recipient_id : fallbackRecipient,
    messageId: data.message_id,
  };
}

function expectSuccess(method: string, path: string, data: unknown): void {
  if (!isObject(data) || data.success !== true) throw unexpected(method, path, data);
}

/** A 2xx answer we cannot understand: not retryable (it may have been applied). */
function unexpected(method: string, path: string, data: unknown): GraphApiError {
  return new GraphApiError(
    200,
    { error: { message: `unexpected Graph API answer: ${JSON.stringify(data)?.slice(0, 200)}` } },
    { method, path },
  );
}

function toNetworkError(err: unknown, call: GraphCallInfo, timeoutMs: number): GraphNetworkError {
  const code = isObject(err) && typeof err.code === 'string' ? err.code : undefined;
  const name = isObject(err) && typeof err.name === 'string' ? err.name : '';
  const timedOut =
    code === 'ETIMEDOUT' ||
    code === 'ECONNABORTED' ||
    code === 'ERR_CANCELED' ||
    name === 'TimeoutError' ||
    name === 'CanceledError';
  // Never keep the axios error itself: its config carries the access token.
  const message = err instanceof Error ? err.message : String(err);
  return new GraphNetworkError(
    timedOut
      ? `${call.method} ${call.path}: no answer within ${timeoutMs} ms`
      : `${call.method} ${call.path}: ${message}`,
    { code: timedOut ? (code ?? 'ETIMEDOUT') : code, timedOut, call },
  );
}
