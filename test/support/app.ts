import { loadConfig, type Config } from '../../src/config/index.js';
import type { FakeGraph, SentMessage } from '../../src/dev/fake-graph/index.js';
import {
  messageEvent,
  messagingBody,
  postSignedWebhook,
  type PostSignedWebhookOptions,
  type WebhookBody,
} from '../../src/dev/webhook-payloads.js';
import { silentLogger } from '../../src/log.js';
import { startApp, type RunningApp } from '../../src/server.js';
import { startTestMongo, type TestMongo } from '../db/helpers.js';

export interface TestApp {
  readonly app: RunningApp;
  readonly config: Config;
  readonly fakeGraph: FakeGraph;
  readonly mongo: TestMongo;
  readonly webhookUrl: string;
  readonly pageId: string;
  post(
    body: WebhookBody | string | Buffer,
    options?: PostSignedWebhookOptions,
  ): Promise<{ status: number; text: string }>;
  /** A fan types `text`: Meta notes the interaction (24 h window) and delivers the signed webhook. */
  say(psid: string, text: string, extra?: { mid?: string; quickReplyPayload?: string }): Promise<number>;
  /**
   * Does `act` (a fan's action) and resolves with the messages the bot sent that fan in answer, once at
   * least `count` arrived (plus a short settle, so a test also sees an extra one that should not be there).
   */
  exchange<T = SentMessage>(psid: string, act: () => Promise<unknown>, count?: number): Promise<T[]>;
  stop(): Promise<void>;
}

/** A whole bot (both roles) in simulator mode on an ephemeral port, against a fresh test database. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const mongo = await startTestMongo();
  const config = loadConfig({ PORT: '0', MONGODB_URI: mongo.uri, LOG_LEVEL: 'silent', ...env });
  const app = await startApp({
    config,
    log: silentLogger,
    processor: { pollMs: 50 },
    sender: { pollMs: 50 },
  });
  if (!app.fakeGraph) throw new Error('test app expected simulator mode');
  const fakeGraph = app.fakeGraph;
  const webhookUrl = `${app.url}/api/messages`;
  const pageId = config.facebook.page.id;
  const post: TestApp['post'] = (body, options) =>
    postSignedWebhook(webhookUrl, body, config.facebook.appSecret, options);
  return {
    app,
    config,
    fakeGraph,
    mongo,
    webhookUrl,
    pageId,
    post,
    async say(psid, text, extra = {}) {
      const event = messageEvent({ pageId, psid, text, ...extra });
      fakeGraph.noteUserInteraction(pageId, psid, new Date(event.timestamp ?? Date.now()));
      return (await post(messagingBody(pageId, event))).status;
    },
    async exchange<T>(psid: string, act: () => Promise<unknown>, count = 1): Promise<T[]> {
      const before = fakeGraph.messagesTo(psid).length;
      await act();
      await waitFor(() => {
        const m = fakeGraph.messagesTo(psid);
        return m.length >= before + count && m;
      });
      await new Promise((r) => setTimeout(r, 150));
      return fakeGraph.messagesTo(psid).slice(before) as unknown as T[];
    },
    async stop() {
      await app.stop();
      await mongo.stop();
    },
  };
}

/** Polls until `check` returns a value (not undefined/false) or the timeout passes. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`waitFor: condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
