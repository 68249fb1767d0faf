/**
 * A fake Graph API that behaves like Meta's for everything this bot uses (reference
 * /work/shared/reference/messenger-platform.md): token + appsecret_proof checks, platform limits
 * (error 100), the 24 h window (10/2018278), one private reply per comment within 7 days (10900),
 * the Messenger Profile API's 10 calls / 10 min (613), injectable faults, and a record of every call.
 *
 * Two ways to use it: mount `router` on an express app under a prefix (simulator mode, `npm start`),
 * or `listen()` on its own port (tests, benchmarks). Either way a GraphClient pointed at its URL
 * with a version like `v25.0` works unchanged.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Router } from 'express';

import { EchoDelivery, type EchoWebhook } from './echo.js';
import { createFakeGraphRouter, type RouterContext } from './routes.js';
import {
  FakeGraphState,
  type FakeComment,
  type FakePage,
  type FakeUser,
  type FaultSpec,
  type PublicReplyRecord,
  type RecordedCall,
  type SenderActionRecord,
  type SentMessage,
} from './state.js';

export type {
  CallPreview,
  FakeComment,
  FakePage,
  FakeUser,
  FaultKind,
  FaultSpec,
  PublicReplyRecord,
  RecordedCall,
  SenderActionRecord,
  SentMessage,
} from './state.js';

export type { EchoWebhook } from './echo.js';

export type Clock = (() => Date) | { now(): Date };

export interface FakeGraphOptions {
  appSecret: string;
  pages: FakePage[];
  /** Default 1000000000000001. The app token `${appId}|${appSecret}` is accepted by /debug_token. */
  appId?: string;
  /** Delay before each answer (tests: 0, bench: 150). */
  latencyMs?: number;
  /** When set, other versions are refused. Versions older than v24.0 are always refused. */
  version?: string;
  clock?: Clock;
  /** Fans with a profile (`GET /{psid}`). */
  users?: FakeUser[];
  /** Meta's "Require App Secret" setting (default true: calls without appsecret_proof fail). */
  requireAppSecretProof?: boolean;
  /**
   * Deliver `message_echoes` to the bot: after accepting a send with `metadata`, POST a signed echo
   * event carrying it to `url` (retried with backoff while the bot does not answer 200).
   */
  echoWebhook?: EchoWebhook;
}

export interface FakeGraphServer {
  url: string;
  readonly port: number;
  /**
   * Stops listening (clients get ECONNREFUSED, open connections are cut) until `acceptConnections()`
   * listens again on the same port: the Graph API unreachable, not merely failing.
   */
  refuseConnections(): Promise<void>;
  acceptConnections(): Promise<void>;
  close(): Promise<void>;
}

export interface FakeGraph {
  router: Router;
  /** Every call, accepted or rejected, in arrival order. Cleared (in place) by reset(). */
  readonly calls: RecordedCall[];
  /** Every accepted message send (including private replies and Marketing Messages). */
  readonly messages: SentMessage[];
  readonly senderActions: SenderActionRecord[];
  readonly publicReplies: PublicReplyRecord[];
  /** Accepted messages that reached this PSID (private replies included, by the commenter's PSID). */
  messagesTo(psid: string): SentMessage[];
  /** Back to the configured pages/users; forgets calls, fans' windows, comments, faults, revocations. */
  reset(): void;
  inject(fault: FaultSpec): void;
  pendingFaults(): number;
  /** Meta learns the fan wrote (message, postback, quick reply, referral...): opens/refreshes the 24 h window. */
  noteUserInteraction(pageId: string, psid: string, at?: Date): void;
  /** Meta learns about a comment under one of the page's posts (private/public replies need it). */
  noteComment(pageId: string, comment: FakeComment): void;
  addUser(user: FakeUser): void;
  /** The fan blocked the page / deactivated: sends answer 551 / 1545041. */
  markUnreachable(pageId: string, psid: string, unreachable?: boolean): void;
  revokeToken(token: string): void;
  /** A new page access token (the manager generated another one); the old one stays as it was. */
  issuePageToken(pageId: string, token: string): void;
  /**
   * A sustained outage: while on, every call is answered HTTP 500 / code 2 (transient) and recorded,
   * until `setOutage(false)`.
   */
  setOutage(on: boolean): void;
  /** The PSID a private reply to this comment reaches. */
  psidForComment(commentId: string): string | undefined;
  messengerProfile(pageId: string): Record<string, unknown> | undefined;
  subscribedFields(pageId: string): string[] | undefined;
  threadOwner(pageId: string, psid: string): string | undefined;
  setLatency(ms: number): void;
  /** Starts, redirects (a restarted bot on a new port) or stops (undefined) echo delivery. */
  setEchoWebhook(target: EchoWebhook | undefined): void;
  /** Serves the router alone on 127.0.0.1 (port 0 = any free port). */
  listen(port?: number): Promise<FakeGraphServer>;
}

export function createFakeGraph(opts: FakeGraphOptions): FakeGraph {
  if (!opts.appSecret) throw new Error('createFakeGraph: appSecret is required');
  const clock = opts.clock;
  const now: () => Date =
    clock === undefined ? () => new Date() : typeof clock === 'function' ? clock : () => clock.now();
  const state = new FakeGraphState(opts.pages, opts.users ?? []);
  let latencyMs = opts.latencyMs ?? 0;
  let outage = false;
  const hanging = new Set<NodeJS.Timeout>();
  const echoes = new EchoDelivery(opts.echoWebhook);
  const ctx: RouterContext = {
    state,
    appSecret: opts.appSecret,
    appId: opts.appId ?? '1000000000000001',
    now,
    latencyMs: () => latencyMs,
    requireProof: opts.requireAppSecretProof ?? true,
    version: opts.version,
    hanging,
    echoes,
  };
  const router = createFakeGraphRouter(ctx);
  const clearHanging = (): void => {
    for (const t of hanging) clearTimeout(t);
    hanging.clear();
  };

  return {
    router,
    calls: state.calls,
    messages: state.messages,
    senderActions: state.senderActions,
    publicReplies: state.publicReplies,
    messagesTo: (psid) => state.messagesTo(psid),
    reset: () => {
      clearHanging();
      state.reset();
    },
    inject: (fault) => state.inject(fault),
    pendingFaults: () => state.pendingFaults(),
    noteUserInteraction: (pageId, psid, at) => state.noteUserInteraction(pageId, psid, at ?? now()),
    noteComment: (pageId, comment) => state.noteComment(pageId, comment),
    addUser: (user) => state.addUser(user),
    markUnreachable: (pageId, psid, unreachable = true) => state.setUnreachable(pageId, psid, unreachable),
    revokeToken: (token) => {
      state.revoked.add(token);
    },
    issuePageToken: (pageId, token) => {
      const page = state.pages.get(pageId);
      if (!page) throw new Error(`fake graph: unknown page ${pageId}`);
      state.tokens.set(token, { ...page, accessToken: token });
      state.revoked.delete(token);
    },
    setOutage: (on) => {
      // A fault that matches while the switch is on; reset() drops it with the other faults.
      if (on && !outage) state.inject({ kind: '5xx', count: Number.MAX_SAFE_INTEGER, match: () => outage });
      outage = on;
    },
    psidForComment: (commentId) => {
      const c = state.comments.get(commentId);
      return c ? state.psidForCommenter(c.pageId, c) : undefined;
    },
    messengerProfile: (pageId) => state.messengerProfiles.get(pageId),
    subscribedFields: (pageId) => state.subscriptions.get(pageId),
    threadOwner: (pageId, psid) => state.threadOwner(pageId, psid),
    setLatency: (ms) => {
      latencyMs = ms;
    },
    setEchoWebhook: (target) => echoes.set(target),
    listen: async (port = 0) => {
      const app = express();
      app.disable('x-powered-by');
      app.use(router);
      const server = http.createServer(app);
      server.keepAliveTimeout = 65_000;
      const listenOn = (p: number) =>
        new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(p, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
          });
        });
      const stopListening = async () => {
        if (!server.listening) return;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      };
      await listenOn(port);
      const bound = (server.address() as AddressInfo).port;
      return {
        url: `http://127.0.0.1:${bound}`,
        port: bound,
        refuseConnections: stopListening,
        acceptConnections: async () => {
          if (!server.listening) await listenOn(bound);
        },
        close: async () => {
          clearHanging();
          echoes.clear();
          await stopListening();
        },
      };
    },
  };
}
