/**
 * An express app with only the admin router, on an ephemeral port, against a fresh test database
 * (embedded server, or MONGODB_TEST_URI). Records every MongoDB operation so tests can prove that a
 * refused request never reached a collection.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import express from 'express';
import mongoose from 'mongoose';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config/index.js';
import type { AdminLimits } from '../../src/admin/auth/authenticate.js';
import { hashPassword } from '../../src/admin/auth/passwords.js';
import { createApiToken } from '../../src/admin/auth/tokens.js';
import { createAdminRouter } from '../../src/admin/router.js';
import { AdminSessionModel } from '../../src/db/models/admin-session.js';
import { ApiTokenModel } from '../../src/db/models/api-token.js';
import { AuditEntryModel } from '../../src/db/models/audit-entry.js';
import { FanModel } from '../../src/db/models/fan.js';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { ManagerModel, type ManagerRole } from '../../src/db/models/manager.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { startTestMongo, type TestMongo } from '../db/helpers.js';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface Session {
  cookie: string;
  csrf: string;
}

export interface RequestOptions {
  token?: string;
  session?: Session;
  /** Send the session's CSRF header (default true when a session is given). */
  csrf?: boolean;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface Harness {
  readonly base: string;
  /** The test database (for child processes such as the CLI). */
  readonly mongoUri: string;
  readonly config: Config;
  readonly pageId: string;
  readonly logs: Record<string, unknown>[];
  readonly logText: () => string;
  /** Every MongoDB operation as `collection.method`, since the last `resetQueries()`. */
  readonly queries: string[];
  resetQueries(): void;
  /** Move the clock forward (sessions, rate limits). */
  advance(ms: number): void;
  request(method: string, path: string, opts?: RequestOptions): Promise<Reply>;
  makeToken(role: ManagerRole, name?: string): Promise<string>;
  makeManager(role: ManagerRole, email?: string): Promise<{ id: string; email: string; password: string }>;
  login(email: string, password: string): Promise<Session>;
  close(): Promise<void>;
}

const MODELS = [
  ManagerModel,
  ApiTokenModel,
  AdminSessionModel,
  AuditEntryModel,
  FanModel,
  InboxEventModel,
  OutboxMessageModel,
];
let counter = 0;

export async function startHarness(
  options: {
    limits?: Partial<AdminLimits>;
    env?: NodeJS.ProcessEnv;
    queryParser?: 'simple' | 'extended';
  } = {},
): Promise<Harness> {
  const mongo: TestMongo = await startTestMongo();
  await mongoose.connect(mongo.uri);
  await Promise.all(MODELS.map((m) => m.createIndexes()));
  // Every other model the admin API imports builds its indexes lazily on connect; let that finish
  // before queries are recorded, or a late createIndex looks like work done by a refused request.
  await Promise.all(Object.values(mongoose.models).map((m) => m.init()));

  const queries: string[] = [];
  mongoose.set('debug', (collection: string, method: string) => {
    queries.push(`${collection}.${method}`);
  });

  const logs: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        raw.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const log = pino({ level: 'info' }, sink);

  let offset = 0;
  const config = loadConfig(options.env ?? {});
  const app = express();
  if (options.queryParser) app.set('query parser', options.queryParser);
  app.use(
    '/admin',
    createAdminRouter({ config, log, clock: () => new Date(Date.now() + offset), limits: options.limits }),
  );
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/api`;
  const pageId = config.facebook.page.id;

  const h: Harness = {
    base,
    mongoUri: mongo.uri,
    config,
    pageId,
    logs,
    logText: () => raw.join('\n'),
    queries,
    resetQueries: () => void queries.splice(0),
    advance: (ms) => void (offset += ms),
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.session) {
        headers.cookie = opts.session.cookie;
        if (opts.csrf !== false) headers['x-csrf-token'] = opts.session.csrf;
      }
      let body: string | undefined = opts.rawBody;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(base + path, { method: method.toUpperCase(), headers, body });
      const text = await res.text();
      let parsed: unknown = undefined;
      if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
      return { status: res.status, headers: res.headers, text, body: parsed };
    },
    async makeToken(role, name = `${role} token ${++counter}`) {
      const { token } = await createApiToken({ pageId, name, role, createdBy: 'test', now: new Date() });
      return token;
    },
    async makeManager(role, email = `${role}${++counter}@example.com`) {
      const password = `pw-${role}-${counter}-long-enough`;
      // Cheap scrypt parameters keep tests fast; verification reads them from the hash.
      const passwordHash = await hashPassword(password, { N: 1024, r: 8, p: 1 });
      const m = await ManagerModel.create({ pageId, email, role, passwordHash });
      return { id: m.id, email, password };
    },
    async login(email, password) {
      const res = await h.request('post', '/session', { body: { email, password } });
      if (res.status !== 201) throw new Error(`login failed: ${res.status} ${res.text}`);
      const setCookie = res.headers.get('set-cookie') ?? '';
      return { cookie: setCookie.split(';')[0]!, csrf: res.body.csrfToken as string };
    },
    async close() {
      mongoose.set('debug', false);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await mongoose.disconnect();
      await mongo.stop();
    },
  };
  return h;
}

/** Expects the uniform error shape and returns its code. */
export function errorCode(reply: Reply): string {
  const e = reply.body?.error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string' || !('details' in e)) {
    throw new Error(`not an admin error body: ${reply.status} ${reply.text}`);
  }
  return e.code as string;
}
