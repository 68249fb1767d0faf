/**
 * Hostile input at the admin API (issue #11): random methods, paths (declared routes with hostile
 * parameters, and made-up ones), query strings and JSON bodies (operator objects, arrays for strings,
 * huge numbers, deep nesting), with and without valid credentials. What must hold:
 * - only the statuses the API documents (src/admin/errors.ts: 400/401/403/404/409/413/429, plus the
 *   routes' 200/201/204) — never a 500;
 * - no unhandled rejection or uncaught exception;
 * - a request without valid credentials changes nothing in the database.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { expect } from 'chai';
import fc from 'fast-check';
import mongoose from 'mongoose';
import { adminRoutes } from '../../src/admin/router.js';
import { createLimiters, DEFAULT_LIMITS } from '../../src/admin/auth/authenticate.js';
import { loadDemoDataIfEmpty } from '../../src/app/demo-data.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { FanModel } from '../../src/db/models/fan.js';
import { ProductModel } from '../../src/db/models/product.js';
import { ProposalModel } from '../../src/db/models/proposal.js';
import { startHarness, type Harness, type Session } from '../admin/harness.js';
import {
  fuzzParams,
  fuzzRuns,
  hostileString,
  hostileValue,
  NASTY_STRINGS,
  OPERATOR_OBJECTS,
  ProcessFailureRecorder,
} from './support.js';

const DOCUMENTED = [200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const HIGH = { limit: 1_000_000, windowMs: 60_000 };

interface Shape {
  method: string;
  path: string;
  bodyKeys: string[];
  queryKeys: string[];
}

type Auth =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string }
  | { kind: 'session'; csrf: boolean }
  | { kind: 'header'; name: string; value: string };

interface Req {
  method: string;
  path: string;
  query: [string, string][];
  body: { kind: 'json'; value: unknown } | { kind: 'raw'; text: string; type: string } | { kind: 'none' };
}

/** A digest of every collection: "changes nothing" means every document is byte-for-byte the same. */
async function snapshot(): Promise<Record<string, string>> {
  const db = mongoose.connection.db!;
  const out: Record<string, string> = {};
  for (const { name } of await db.listCollections().toArray()) {
    const docs = await db.collection(name).find({}).sort({ _id: 1 }).toArray();
    out[name] = `${docs.length}:${createHash('sha256').update(JSON.stringify(docs)).digest('hex')}`;
  }
  return out;
}

/**
 * One request on its own connection. fetch's pooled keep-alive sockets race the server's keep-alive
 * timeout (a reused socket can be reset as it is reused), which would read as the server failing.
 */
function exchange(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Percent-encodes any string, lone surrogates included (encodeURIComponent throws on those). */
const pct = (s: string): string =>
  [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

describe('fuzz: admin API under hostile input', function () {
  const runs = fuzzRuns(300);
  this.timeout(120_000 + runs * 1_000);
  let h: Harness;
  let shapes: Shape[];
  let idPool: string[];
  const tokens: Record<'viewer' | 'manager' | 'owner', string> = { viewer: '', manager: '', owner: '' };
  let session: Session;
  const recorder = new ProcessFailureRecorder();

  before(async () => {
    recorder.install();
    h = await startHarness({
      limits: { use: HIGH, badCredentials: HIGH, login: HIGH, loginPerIp: HIGH },
    });
    await loadDemoDataIfEmpty(h.pageId);
    const now = new Date();
    await FanModel.create({
      pageId: h.pageId,
      psid: '3300000000000001',
      locale: 'it',
      firstInteractionAt: now,
      lastInteractionAt: now,
    });
    const [products, campaigns, proposals] = await Promise.all([
      ProductModel.find({}, { _id: 1 }).limit(3).lean(),
      CampaignModel.find({}, { _id: 1 }).limit(3).lean(),
      ProposalModel.find({}, { _id: 1 }).limit(2).lean(),
    ]);
    idPool = [
      '3300000000000001',
      ...[...products, ...campaigns, ...proposals].map((d) => String(d._id)),
      '000000000000000000000000',
      'DL-000001',
    ];
    tokens.viewer = await h.makeToken('viewer');
    tokens.manager = await h.makeToken('manager');
    tokens.owner = await h.makeToken('owner');
    const owner = await h.makeManager('owner');
    session = await h.login(owner.email, owner.password);
    const limiters = createLimiters(DEFAULT_LIMITS, () => new Date());
    shapes = adminRoutes({ limiters, config: h.config }).map((r) => ({
      method: r.method.toUpperCase(),
      path: r.path,
      bodyKeys: Object.keys(r.body?.shape ?? {}),
      queryKeys: Object.keys(r.query.shape),
    }));
  });
  after(async () => {
    recorder.uninstall();
    await h?.close();
  });

  const plausible = (): fc.Arbitrary<unknown> =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...idPool) },
      {
        weight: 3,
        arbitrary: fc.constantFrom('it', 'en', 'viewer', 'manager', 'owner', 'open', 'draft', 'EUR', 'x', ''),
      },
      { weight: 2, arbitrary: fc.integer({ min: -5, max: 100 }) },
      { weight: 1, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) },
      { weight: 1, arbitrary: fc.boolean() },
      { weight: 1, arbitrary: fc.array(fc.constantFrom('vip', 'it', 'a'), { maxLength: 3 }) },
      { weight: 4, arbitrary: hostileValue(40_000) },
    );

  const segment = (): fc.Arbitrary<string> =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...idPool) },
      { weight: 2, arbitrary: hostileString(300).map(pct) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('%24ne', '%2e%2e', '..%2f..%2fadmin', '%00', '%ZZ', '%', 'a.b', '$gt'),
      },
    );

  const request = (): fc.Arbitrary<Req> =>
    fc
      .tuple(
        fc.nat(),
        fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.constantFrom(...METHODS, 'OPTIONS', 'HEAD') },
        ),
        fc.array(segment(), { minLength: 4, maxLength: 4 }),
        fc.oneof(
          { weight: 6, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.array(segment(), { minLength: 1, maxLength: 3 }) },
        ),
        fc.array(
          fc.tuple(
            fc.oneof({ weight: 5, arbitrary: fc.nat() }, { weight: 1, arbitrary: hostileString(50) }),
            fc.oneof(fc.constantFrom(...idPool), hostileString(300), fc.integer().map(String)),
          ),
          { maxLength: 3 },
        ),
        fc.oneof(
          {
            weight: 5,
            arbitrary: fc.array(
              fc.tuple(
                fc.oneof({ weight: 8, arbitrary: fc.nat() }, { weight: 1, arbitrary: hostileString(30) }),
                plausible(),
              ),
              {
                maxLength: 6,
              },
            ),
          },
          { weight: 1, arbitrary: hostileValue(40_000).map((v) => ({ whole: v })) },
          {
            weight: 1,
            arbitrary: fc
              .tuple(
                fc.constantFrom(...NASTY_STRINGS, '{"a":', '[1,2', '{"$gt":""}', 'null', '"s"', '1e999'),
                fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', ''),
              )
              .map(([text, type]) => ({ raw: text, type })),
          },
          { weight: 1, arbitrary: fc.constant(null) },
        ),
      )
      .map(([pick, method, params, madeUp, query, body]) => {
        const shape = shapes[pick % shapes.length]!;
        let i = 0;
        const path = madeUp
          ? `/${madeUp.join('/')}`
          : shape.path.replace(/:(\w+)/g, () => params[i++ % params.length]!);
        const name = (k: number | string) =>
          typeof k === 'number' ? (shape.queryKeys[k % Math.max(1, shape.queryKeys.length)] ?? 'q') : k;
        const bodyKey = (k: number | string) =>
          typeof k === 'number' ? (shape.bodyKeys[k % Math.max(1, shape.bodyKeys.length)] ?? 'name') : k;
        let b: Req['body'];
        if (body === null) b = { kind: 'none' };
        else if (Array.isArray(body)) {
          const value: Record<string, unknown> = {};
          // defineProperty: a key such as "__proto__" must be an own key, as in an attacker's JSON.
          for (const [k, v] of body)
            Object.defineProperty(value, bodyKey(k), { value: v, enumerable: true, configurable: true });
          b = { kind: 'json', value };
        } else if ('whole' in body) b = { kind: 'json', value: body.whole };
        else b = { kind: 'raw', text: body.raw, type: body.type };
        return {
          method: method ?? shape.method,
          path,
          query: query.map(([k, v]) => [name(k), v] as [string, string]),
          body: b,
        };
      });

  async function send(req: Req, auth: Auth): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {};
    if (auth.kind === 'bearer') headers.authorization = `Bearer ${auth.token}`;
    if (auth.kind === 'session') {
      headers.cookie = session.cookie;
      if (auth.csrf) headers['x-csrf-token'] = session.csrf;
    }
    if (auth.kind === 'header') headers[auth.name] = auth.value;
    let body: string | undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (req.body.kind === 'json') {
        body = JSON.stringify(req.body.value);
        headers['content-type'] = 'application/json';
      } else if (req.body.kind === 'raw') {
        body = req.body.text;
        if (req.body.type) headers['content-type'] = req.body.type;
      }
    }
    const qs = new URLSearchParams(req.query).toString();
    return exchange(req.method, `${h.base}${req.path}${qs ? `?${qs}` : ''}`, headers, body);
  }

  /** Statuses seen, to tell with FUZZ_VERBOSE whether the fuzz gets past validation at all. */
  const seen: Record<string, number> = {};
  const count = (label: string, status: number) => {
    const key = `${label} ${status}`;
    seen[key] = (seen[key] ?? 0) + 1;
  };
  after(() => {
    if (process.env.FUZZ_VERBOSE) console.log('admin fuzz statuses', seen);
  });

  const describeReq = (req: Req, auth: Auth, reply: { status: number; text: string }) =>
    `${auth.kind} ${req.method} ${req.path.slice(0, 200)} → ${reply.status} ${reply.text.slice(0, 300)}`;

  it(`with valid credentials: documented statuses only, never 500 (${runs} runs)`, async () => {
    const auth = fc.oneof(
      fc.constantFrom<Auth>(
        { kind: 'bearer', token: '' },
        { kind: 'session', csrf: true },
        { kind: 'session', csrf: false },
      ),
      fc.constantFrom('viewer' as const, 'manager' as const, 'owner' as const, 'owner' as const),
    );
    await fc.assert(
      fc.asyncProperty(request(), auth, async (req, a) => {
        const resolved: Auth =
          typeof a === 'string'
            ? { kind: 'bearer', token: tokens[a] }
            : a.kind === 'bearer'
              ? { kind: 'none' }
              : a;
        const reply = await send(req, resolved);
        count(`authenticated ${req.method}`, reply.status);
        expect(DOCUMENTED, describeReq(req, resolved, reply)).to.include(reply.status);
        expect(recorder.failures).to.deep.equal([]);
      }),
      fuzzParams(runs),
    );
  });

  it(`without valid credentials: nothing changes in the database (${runs} runs)`, async () => {
    const before = await snapshot();
    const auth: fc.Arbitrary<Auth> = fc.oneof(
      fc.constant<Auth>({ kind: 'none' }),
      hostileString(500).map((token): Auth => ({
        kind: 'bearer',
        token: token.replace(/[^\x20-\x7e]/g, ''),
      })),
      fc.constantFrom<Auth>(
        { kind: 'bearer', token: `${tokens.owner}x` },
        { kind: 'bearer', token: tokens.owner.slice(0, -2) },
        { kind: 'header', name: 'authorization', value: `Basic ${Buffer.from('a:b').toString('base64')}` },
        { kind: 'header', name: 'authorization', value: 'Bearer' },
        { kind: 'header', name: 'cookie', value: 'sid=%7B%22%24ne%22%3Anull%7D' },
        { kind: 'header', name: 'cookie', value: `${session.cookie}x` },
        { kind: 'header', name: 'x-csrf-token', value: session.csrf },
      ),
    );
    await fc.assert(
      fc.asyncProperty(request(), auth, async (req, a) => {
        const reply = await send(req, a);
        count('stranger', reply.status);
        expect(DOCUMENTED, describeReq(req, a, reply)).to.include(reply.status);
        // Signing in is the only thing a stranger may do; every other answer is a refusal.
        if (!req.path.startsWith('/session'))
          expect([400, 401, 404, 405, 413, 415, 429], describeReq(req, a, reply)).to.include(reply.status);
      }),
      fuzzParams(runs),
    );
    expect(await snapshot()).to.deep.equal(before);
    expect(recorder.failures).to.deep.equal([]);
  });

  it('operator objects in place of every string field are refused with 400 before any handler runs', async () => {
    for (const shape of shapes.filter((s) => s.bodyKeys.length > 0)) {
      for (const op of OPERATOR_OBJECTS) {
        const body = Object.fromEntries(shape.bodyKeys.map((k) => [k, op]));
        const path = shape.path.replace(/:(\w+)/g, idPool[0]!);
        const reply = await send(
          { method: shape.method, path, query: [], body: { kind: 'json', value: body } },
          {
            kind: 'bearer',
            token: tokens.owner,
          },
        );
        expect(reply.status, `${shape.method} ${path} ${JSON.stringify(op)} → ${reply.text}`).to.equal(400);
      }
    }
  });
});
