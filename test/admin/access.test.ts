import { expect } from 'chai';
import { FanModel } from '../../src/db/models/fan.js';
import { errorCode, startHarness, type Harness } from './harness.js';

/** Credentials, roles, CSRF, injection, validation and rate limits — the rules every endpoint shares. */

const SAMPLE = {
  id: '0123456789abcdef01234567',
  psid: '1234567890',
  tag: 'vip',
  postId: '100000000000001_42',
  scope: 'campaign',
} as Record<string, string>;
const fill = (path: string) => path.replace(/\{(\w+)\}/g, (_m, name: string) => SAMPLE[name] ?? 'x');

type Op = { method: string; path: string; role: string; security: unknown[] };

async function operations(h: Harness, token: string): Promise<Op[]> {
  const res = await h.request('get', '/openapi.json', { token });
  expect(res.status).to.equal(200);
  const ops: Op[] = [];
  for (const [path, methods] of Object.entries(
    res.body.paths as Record<string, Record<string, Record<string, unknown>>>,
  )) {
    for (const [method, op] of Object.entries(methods)) {
      ops.push({ method, path, role: op['x-required-role'] as string, security: op.security as unknown[] });
    }
  }
  return ops;
}

describe('admin API: access rules', function () {
  this.timeout(60_000);
  let h: Harness;
  let viewer: string;
  let manager: string;
  let owner: string;

  before(async () => {
    h = await startHarness();
    viewer = await h.makeToken('viewer');
    manager = await h.makeToken('manager');
    owner = await h.makeToken('owner');
    await FanModel.create({
      pageId: h.pageId,
      psid: '1234567890',
      firstName: 'Maria',
      lastName: 'Rossi',
      locale: 'it',
      firstInteractionAt: new Date(),
      lastInteractionAt: new Date(),
    });
  });
  after(async () => h?.close());

  describe('the OpenAPI document', () => {
    it('lists only routes that exist, and every one but sign-in requires credentials', async () => {
      const ops = await operations(h, await h.makeToken('viewer'));
      expect(ops.length).to.be.greaterThan(15);
      const publicOps = ops.filter((o) => o.security.length === 0).map((o) => `${o.method} ${o.path}`);
      expect(publicOps).to.deep.equal(['post /session']);
      for (const op of ops.filter((o) => o.security.length > 0)) {
        const res = await h.request(op.method, fill(op.path), op.method === 'get' ? {} : { body: {} });
        expect(res.status, `${op.method} ${op.path}`).to.equal(401);
        expect(errorCode(res), `${op.method} ${op.path}`).to.equal('unauthenticated');
      }
      // A route that does not exist answers 404, so the 401s above prove the routes exist.
      const missing = await h.request('get', '/no-such-thing', { token: viewer });
      expect(missing.status).to.equal(404);
      expect(errorCode(missing)).to.equal('no_such_endpoint');
    });

    it('is generated from the zod schemas (parameters, bodies, responses, error shape)', async () => {
      const doc = (await h.request('get', '/openapi.json', { token: viewer })).body;
      expect(doc.openapi).to.equal('3.1.0');
      const search = doc.paths['/fans'].get;
      expect(search.parameters.map((p: { name: string }) => p.name)).to.include.members([
        'q',
        'tag',
        'limit',
        'cursor',
      ]);
      const tag = doc.paths['/fans/{psid}/tags'].post;
      expect(tag.requestBody.content['application/json'].schema.properties.tag.type).to.equal('string');
      expect(tag.requestBody.content['application/json'].schema.additionalProperties).to.equal(false);
      const fan = doc.paths['/fans/{psid}'].get.responses['200'].content['application/json'].schema;
      expect(fan.properties.lastInteractionAt).to.deep.include({ type: 'string', format: 'date-time' });
      expect(doc.paths['/tokens'].post.responses['403'].content['application/json'].schema.$ref).to.equal(
        '#/components/schemas/Error',
      );
    });

    it('viewers are refused (403) on every route that needs more, managers on owner routes', async () => {
      const ops = await operations(h, viewer);
      const guarded = ops.filter((o) => o.role === 'manager' || o.role === 'owner');
      expect(guarded.filter((o) => o.method !== 'get').length).to.be.greaterThan(8);
      for (const op of guarded) {
        h.resetQueries();
        const res = await h.request(op.method, fill(op.path), {
          token: viewer,
          body: op.method === 'get' ? undefined : {},
        });
        expect(res.status, `${op.method} ${op.path}`).to.equal(403);
        expect(errorCode(res)).to.equal('forbidden');
        expect(
          h.queries.filter((q) => !q.startsWith('tokens.')),
          `${op.method} ${op.path}`,
        ).to.deep.equal([]);
      }
      for (const op of ops.filter((o) => o.role === 'owner')) {
        const res = await h.request(op.method, fill(op.path), {
          token: manager,
          body: op.method === 'get' ? undefined : {},
        });
        expect(res.status, `${op.method} ${op.path}`).to.equal(403);
      }
    });

    it('every viewer-level GET answers a viewer', async () => {
      const ops = await operations(h, viewer);
      for (const op of ops.filter((o) => o.method === 'get' && o.role === 'viewer')) {
        const res = await h.request('get', fill(op.path), { token: await h.makeToken('viewer') });
        expect(res.status, `${op.method} ${op.path}: ${res.text}`).to.be.oneOf([200, 404]);
      }
    });
  });

  describe('credentials', () => {
    it('refuses missing, malformed, unknown and revoked tokens with 401', async () => {
      expect(errorCode(await h.request('get', '/me'))).to.equal('unauthenticated');
      expect(errorCode(await h.request('get', '/me', { headers: { authorization: 'Basic abc' } }))).to.equal(
        'bad_authorization',
      );
      expect(errorCode(await h.request('get', '/me', { token: 'scb_' + 'A'.repeat(43) }))).to.equal(
        'invalid_token',
      );
      h.resetQueries();
      expect(errorCode(await h.request('get', '/me', { token: '{"$gt":""}' }))).to.equal('invalid_token');
      expect(h.queries).to.deep.equal([]);
    });

    it('refuses a revoked token at once', async () => {
      const token = await h.makeToken('manager', 'to revoke');
      expect((await h.request('get', '/me', { token })).status).to.equal(200);
      const list = await h.request('get', '/tokens', { token: owner });
      const id = (list.body.items as { id: string; name: string }[]).find((t) => t.name === 'to revoke')!.id;
      const revoked = await h.request('delete', `/tokens/${id}`, { token: owner });
      expect(revoked.status).to.equal(200);
      expect(revoked.body.revokedAt).to.be.a('string');
      const after = await h.request('get', '/me', { token });
      expect(after.status).to.equal(401);
      expect(errorCode(after)).to.equal('invalid_token');
    });

    it('refuses an expired token', async () => {
      const res = await h.request('post', '/tokens', {
        token: owner,
        body: { name: 'short', role: 'viewer', expiresInDays: 1 },
      });
      expect(res.status).to.equal(201);
      expect((await h.request('get', '/me', { token: res.body.token })).status).to.equal(200);
      h.advance(2 * 86_400_000);
      try {
        expect((await h.request('get', '/me', { token: res.body.token })).status).to.equal(401);
      } finally {
        h.advance(-2 * 86_400_000);
      }
    });
  });

  describe('operator injection and validation (400, no database work)', () => {
    const noDataQueries = () => h.queries.filter((q) => !q.startsWith('tokens.'));

    it('refuses operators in a JSON body before authentication or any query', async () => {
      h.resetQueries();
      const res = await h.request('post', '/fans/1234567890/tags', {
        token: manager,
        body: { tag: { $gt: '' } },
      });
      expect(res.status).to.equal(400);
      expect(errorCode(res)).to.equal('operator_injection');
      expect(h.queries).to.deep.equal([]);
      const nested = await h.request('post', '/session', {
        body: { email: 'a@b.it', password: { $ne: null } },
      });
      expect(errorCode(nested)).to.equal('operator_injection');
      const dotted = await h.request('patch', `/managers/${SAMPLE.id}`, {
        token: owner,
        body: { 'role.x': 'owner' },
      });
      expect(errorCode(dotted)).to.equal('operator_injection');
      expect(h.queries).to.deep.equal([]);
    });

    it('refuses operators in the query string, whatever the host app query parser', async () => {
      for (const qs of ['?q[$gt]=', '?psid[$ne]=x', '?tag[$regex]=.*', '?$where=1', '?a.b=1']) {
        h.resetQueries();
        const res = await h.request('get', `/fans${qs}`, { token: viewer });
        expect(res.status, qs).to.equal(400);
        expect(errorCode(res)).to.equal('operator_injection');
        expect(h.queries, qs).to.deep.equal([]);
      }
    });

    it('refuses wrong types, unknown fields and bad ids before the handler runs', async () => {
      const cases: [string, string, unknown][] = [
        ['post', '/fans/1234567890/tags', { tag: ['vip'] }],
        ['post', '/fans/1234567890/tags', { tag: 'a.b' }],
        ['post', '/fans/1234567890/tags', { tag: 'vip', extra: true }],
        ['post', '/fans/12%2034/tags', { tag: 'vip' }],
        ['get', '/fans?limit=1000', undefined],
        ['get', '/fans?limit=abc', undefined],
        ['get', '/fans?tag=a&tag=b', undefined],
        ['get', '/fans?cursor=bm90LWEtY3Vyc29y', undefined],
        ['get', '/fans?unknown=1', undefined],
        ['post', '/inbox/parked/not-an-id/retry', undefined],
        ['post', '/tokens', { name: 'x', role: 'admin' }],
      ];
      for (const [method, path, body] of cases) {
        h.resetQueries();
        const res = await h.request(method, path, { token: owner, body });
        expect(res.status, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`).to.equal(400);
        expect(errorCode(res)).to.be.oneOf(['validation', 'invalid_cursor']);
        expect(res.body.error.details.issues ?? [{}]).to.be.an('array');
        expect(noDataQueries(), `${method} ${path}`).to.deep.equal([]);
      }
    });

    it('answers 400 for bad JSON and non-JSON bodies, 413 for huge ones', async () => {
      const bad = await h.request('post', '/tokens', {
        token: owner,
        rawBody: '{"name":',
        headers: { 'content-type': 'application/json' },
      });
      expect(bad.status).to.equal(400);
      expect(errorCode(bad)).to.equal('invalid_json');
      const form = await h.request('post', '/tokens', {
        token: owner,
        rawBody: 'name=x&role=owner',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(form.status).to.equal(400);
      expect(errorCode(form)).to.equal('not_json');
      const huge = await h.request('post', '/tokens', {
        token: owner,
        body: { name: 'x'.repeat(100_000), role: 'viewer' },
      });
      expect(huge.status).to.equal(413);
      expect(errorCode(huge)).to.equal('payload_too_large');
    });
  });

  describe('sessions', () => {
    it('signs in with an httpOnly SameSite cookie and needs the CSRF header for changes', async () => {
      const m = await h.makeManager('manager');
      const res = await h.request('post', '/session', {
        body: { email: m.email.toUpperCase(), password: m.password },
      });
      expect(res.status).to.equal(201);
      const cookie = res.headers.get('set-cookie')!;
      expect(cookie).to.match(
        /^scb_admin_session=[\w-]{43}; Path=\/admin; Max-Age=\d+; HttpOnly; SameSite=Strict$/,
      );
      const session = { cookie: cookie.split(';')[0]!, csrf: res.body.csrfToken as string };

      const me = await h.request('get', '/me', { session, csrf: false });
      expect(me.body).to.deep.include({
        kind: 'session',
        role: 'manager',
        label: m.email,
        csrfToken: session.csrf,
      });

      const noCsrf = await h.request('post', '/fans/1234567890/tags', {
        session,
        csrf: false,
        body: { tag: 'x' },
      });
      expect(noCsrf.status).to.equal(403);
      expect(errorCode(noCsrf)).to.equal('csrf_failed');
      const wrongCsrf = await h.request('post', '/fans/1234567890/tags', {
        session: { ...session, csrf: 'A'.repeat(43) },
        body: { tag: 'x' },
      });
      expect(errorCode(wrongCsrf)).to.equal('csrf_failed');
      const ok = await h.request('post', '/fans/1234567890/tags', { session, body: { tag: 'x' } });
      expect(ok.status).to.equal(200);

      const out = await h.request('delete', '/session', { session });
      expect(out.status).to.equal(204);
      expect(out.headers.get('set-cookie')).to.include('Max-Age=0');
      expect((await h.request('get', '/me', { session })).status).to.equal(401);
    });

    it('does not need CSRF for bearer tokens, and a token cannot "sign out"', async () => {
      const res = await h.request('delete', '/session', { token: manager });
      expect(res.status).to.equal(400);
      expect(errorCode(res)).to.equal('not_a_session');
    });

    it('expires idle sessions', async () => {
      const m = await h.makeManager('viewer');
      const session = await h.login(m.email, m.password);
      expect((await h.request('get', '/me', { session })).status).to.equal(200);
      h.advance(3 * 60 * 60 * 1000);
      try {
        expect((await h.request('get', '/me', { session })).status).to.equal(401);
      } finally {
        h.advance(-3 * 60 * 60 * 1000);
      }
    });
  });
});

describe('admin API: rate limits', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({
      limits: { use: { limit: 5, windowMs: 60_000 }, login: { limit: 3, windowMs: 15 * 60_000 } },
    });
  });
  after(async () => h?.close());

  it('logs failed sign-ins without the password, and rate-limits them (429) per address', async () => {
    const m = await h.makeManager('owner');
    for (let i = 0; i < 3; i++) {
      const res = await h.request('post', '/session', {
        body: { email: m.email, password: 'wrong-password-value' },
      });
      expect(res.status).to.equal(401);
      expect(errorCode(res)).to.equal('invalid_credentials');
    }
    const limited = await h.request('post', '/session', { body: { email: m.email, password: m.password } });
    expect(limited.status).to.equal(429);
    expect(errorCode(limited)).to.equal('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).to.be.greaterThan(0);

    const failures = h.logs.filter((l) => l.msg === 'admin login failed');
    expect(failures.length).to.be.at.least(3);
    expect(failures[0]).to.include({ email: m.email, reason: 'password' });
    expect(h.logText()).to.not.include('wrong-password-value');
    expect(h.logText()).to.not.include(m.password);

    // An unknown address fails the same way (no account enumeration).
    const unknown = await h.request('post', '/session', {
      body: { email: 'nobody@example.com', password: 'whatever-123' },
    });
    expect(errorCode(unknown)).to.equal('invalid_credentials');
  });

  it('answers 429 with Retry-After once a token exceeds its budget', async () => {
    const token = await h.makeToken('viewer', 'busy');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await h.request('get', '/me', { token })).status);
    expect(statuses.slice(0, 5)).to.deep.equal([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).to.deep.equal([429, 429]);
    const res = await h.request('get', '/me', { token });
    expect(errorCode(res)).to.equal('rate_limited');
    expect(res.headers.get('retry-after')).to.match(/^\d+$/);
    // Other tokens are unaffected.
    expect((await h.request('get', '/me', { token: await h.makeToken('viewer') })).status).to.equal(200);
  });
});

describe('admin API: injection guard under the "extended" query parser', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ queryParser: 'extended' });
  });
  after(async () => h?.close());

  it('still refuses bracket operators (the guard reads the raw URL)', async () => {
    const token = await h.makeToken('viewer');
    h.resetQueries();
    for (const qs of ['?psid[$ne]=x', '?q[$regex]=.*', '?tag[0]=a']) {
      const res = await h.request('get', `/fans${qs}`, { token });
      expect(res.status, qs).to.equal(400);
    }
    expect(h.queries).to.deep.equal([]);
  });
});
