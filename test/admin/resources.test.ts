import { expect } from 'chai';
import { AuditEntryModel } from '../../src/db/models/audit-entry.js';
import { FanModel } from '../../src/db/models/fan.js';
import { InboxEventModel, type InboxState } from '../../src/db/models/inbox-event.js';
import { ManagerModel } from '../../src/db/models/manager.js';
import { OutboxMessageModel, type OutboxState } from '../../src/db/models/outbox-message.js';
import { errorCode, startHarness, type Harness } from './harness.js';

/** Each endpoint's behaviour, and the audit entry every change leaves. */

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);

async function lastAudit(action: string) {
  return AuditEntryModel.findOne({ action }).sort({ at: -1, _id: -1 }).lean();
}

describe('admin API: endpoints', function () {
  this.timeout(60_000);
  let h: Harness;
  let viewer: string;
  let manager: string;
  let owner: string;

  before(async () => {
    h = await startHarness();
    viewer = await h.makeToken('viewer');
    manager = await h.makeToken('manager', 'automation');
    owner = await h.makeToken('owner');
    const fan = (
      psid: string,
      first: string,
      last: string,
      minutes: number,
      extra: Record<string, unknown> = {},
    ) => ({
      pageId: h.pageId,
      psid,
      firstName: first,
      lastName: last,
      locale: 'it' as const,
      firstInteractionAt: minutesAgo(1000),
      lastInteractionAt: minutesAgo(minutes),
      ...extra,
    });
    await FanModel.create([
      fan('1001', 'Maria', 'Rossi', 1, {
        tags: ['vip'],
        optIns: [
          { channel: 'notification_messages', token: 'SECRET-OPTIN', topic: 'offers', createdAt: new Date() },
        ],
        arrival: { ref: 'post-1', source: 'ADS', at: minutesAgo(900) },
      }),
      fan('1002', 'Mario', 'Bianchi', 2, { tags: ['vip', 'milano'] }),
      fan('1003', 'Anna', 'Verdi', 3),
      fan('1004', '=cmd|calc', 'Formula', 4),
      fan('1005', 'Giulia', 'M.*rio', 5),
      { ...fan('2001', 'Other', 'Page', 0), pageId: '999' },
    ]);
    for (let i = 0; i < 7; i++) await FanModel.create(fan(String(3000 + i), 'Bulk', `Fan${i}`, 100 + i));
  });
  after(async () => h?.close());

  describe('GET /me', () => {
    it('describes a token caller', async () => {
      const res = await h.request('get', '/me', { token: manager });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.include({
        kind: 'token',
        role: 'manager',
        label: 'automation',
        csrfToken: null,
      });
      expect(res.body.page).to.deep.equal({ id: h.pageId, name: h.config.facebook.page.name });
    });
  });

  describe('fans', () => {
    it('searches by name words (regex-escaped), psid and tag, newest first, page-scoped', async () => {
      const byName = await h.request('get', '/fans?q=mar', { token: viewer });
      expect(byName.body.items.map((f: { psid: string }) => f.psid)).to.deep.equal(['1001', '1002']);
      const twoWords = await h.request('get', '/fans?q=maria%20ross', { token: viewer });
      expect(twoWords.body.items.map((f: { psid: string }) => f.psid)).to.deep.equal(['1001']);
      const meta = await h.request('get', `/fans?q=${encodeURIComponent('M.*rio')}`, { token: viewer });
      expect(meta.body.items.map((f: { psid: string }) => f.psid)).to.deep.equal(['1005']);
      const byTag = await h.request('get', '/fans?tag=vip', { token: viewer });
      expect(byTag.body.items.map((f: { psid: string }) => f.psid)).to.deep.equal(['1001', '1002']);
      const byPsid = await h.request('get', '/fans?psid=2001', { token: viewer });
      expect(byPsid.body.items).to.deep.equal([]);
    });

    it('never shows opt-in tokens', async () => {
      const res = await h.request('get', '/fans/1001', { token: viewer });
      expect(res.status).to.equal(200);
      expect(res.body.optIns).to.deep.equal([
        {
          channel: 'notification_messages',
          topic: 'offers',
          status: 'active',
          createdAt: res.body.optIns[0].createdAt,
        },
      ]);
      expect(res.text).to.not.include('SECRET-OPTIN');
      expect(res.body.arrival).to.deep.include({ ref: 'post-1', source: 'ADS' });
    });

    it('paginates with an opaque cursor through every fan exactly once', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await h.request('get', `/fans?limit=3${cursor ? `&cursor=${cursor}` : ''}`, {
          token: viewer,
        });
        expect(res.status).to.equal(200);
        expect(res.body.items.length).to.be.at.most(3);
        seen.push(...res.body.items.map((f: { psid: string }) => f.psid));
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).to.equal(4);
      expect(seen).to.have.length(12);
      expect(new Set(seen).size).to.equal(12);
      expect(seen).to.not.include('2001');
    });

    it('answers 404 for an unknown fan', async () => {
      const res = await h.request('get', '/fans/424242', { token: viewer });
      expect(res.status).to.equal(404);
      expect(errorCode(res)).to.equal('not_found');
    });

    it('tags and untags idempotently, auditing before/after', async () => {
      const tagged = await h.request('post', '/fans/1003/tags', { token: manager, body: { tag: 'milano' } });
      expect(tagged.status).to.equal(200);
      expect(tagged.body).to.deep.equal({ psid: '1003', tags: ['milano'] });
      const entry = await lastAudit('fan.tag');
      expect(entry).to.deep.include({
        action: 'fan.tag',
        target: { type: 'fan', id: '1003' },
        before: { tags: [] },
        after: { tags: ['milano'] },
      });
      expect(entry?.actor).to.deep.include({ kind: 'token', label: 'automation' });
      expect(entry?.requestId).to.equal(tagged.headers.get('x-request-id'));

      const again = await h.request('post', '/fans/1003/tags', { token: manager, body: { tag: 'milano' } });
      expect(again.body.tags).to.deep.equal(['milano']);
      const untagged = await h.request('delete', '/fans/1003/tags/milano', { token: manager });
      expect(untagged.body.tags).to.deep.equal([]);
      expect(await lastAudit('fan.untag')).to.deep.include({
        before: { tags: ['milano'] },
        after: { tags: [] },
      });
      expect(
        (await h.request('post', '/fans/9999/tags', { token: manager, body: { tag: 'x' } })).status,
      ).to.equal(404);
    });

    it('exports CSV (streamed), defusing formulas, and audits the export; viewers may not', async () => {
      expect((await h.request('get', '/fans/export.csv', { token: viewer })).status).to.equal(403);
      const res = await h.request('get', '/fans/export.csv?tag=vip', { token: manager });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/csv/);
      expect(res.headers.get('content-disposition')).to.match(
        /attachment; filename="fans-\d+-\d{4}-\d\d-\d\d\.csv"/,
      );
      const lines = res.text.trim().split('\r\n');
      expect(lines[0]).to.equal(
        'psid,firstName,lastName,locale,tags,reachable,marketingOptOut,firstInteractionAt,lastInteractionAt,arrivalRef,arrivalSource',
      );
      expect(lines.slice(1).map((l) => l.split(',')[0])).to.deep.equal(['1001', '1002']);
      const all = await h.request('get', '/fans/export.csv', { token: manager });
      expect(all.text.trim().split('\r\n')).to.have.length(13);
      expect(all.text).to.include("'=cmd|calc");
      expect(await lastAudit('fans.export')).to.not.equal(null);
    });

    it('forgets a fan: personal data gone, stub kept, count unchanged, audit without names', async () => {
      const before = await FanModel.countDocuments({ pageId: h.pageId });
      const res = await h.request('post', '/fans/1001/forget', { token: manager });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.include({ psid: '1001', alreadyForgotten: false });
      const stub = await FanModel.findOne({ pageId: h.pageId, psid: '1001' }).lean();
      expect(stub).to.not.equal(null);
      expect(stub!.firstName).to.equal(undefined);
      expect(stub!.lastName).to.equal(undefined);
      expect(stub!.tags).to.deep.equal([]);
      expect(stub!.optIns).to.deep.equal([]);
      expect(stub!.arrival?.ref).to.equal(undefined);
      expect(stub!.forgottenAt).to.be.instanceOf(Date);
      expect(stub!.lastInteractionAt).to.be.instanceOf(Date);
      expect(await FanModel.countDocuments({ pageId: h.pageId })).to.equal(before);

      const entry = await lastAudit('fan.forget');
      expect(entry?.target).to.deep.equal({ type: 'fan', id: '1001' });
      expect(JSON.stringify(await AuditEntryModel.find().lean())).to.not.match(/Maria|Rossi/);

      expect((await h.request('get', '/fans?q=maria', { token: viewer })).body.items).to.deep.equal([]);
      const withStubs = await h.request('get', '/fans?psid=1001&includeForgotten=true', { token: viewer });
      expect(withStubs.body.items[0]).to.deep.include({ psid: '1001', firstName: null, lastName: null });
      const again = await h.request('post', '/fans/1001/forget', { token: manager });
      expect(again.body.alreadyForgotten).to.equal(true);
      const tag = await h.request('post', '/fans/1001/tags', { token: manager, body: { tag: 'x' } });
      expect(tag.status).to.equal(409);
      expect(errorCode(tag)).to.equal('fan_forgotten');
      expect((await h.request('post', '/fans/777/forget', { token: manager })).status).to.equal(404);
    });
  });

  describe('inbox health', () => {
    let parkedId: string;
    before(async () => {
      const ev = (key: string, state: InboxState, extra: Record<string, unknown> = {}) => ({
        pageId: h.pageId,
        dedupeKey: key,
        kind: 'message' as const,
        queueKey: 'fan:1002',
        payload: JSON.stringify({ message: { text: 'ciao' } }),
        eventTime: minutesAgo(10),
        receivedAt: minutesAgo(10),
        state,
        nextAttemptAt: minutesAgo(1),
        ...extra,
      });
      const [parked] = await InboxEventModel.create([
        ev('m1', 'parked', { attempts: 8, lastError: 'TypeError: boom' }),
        ev('m2', 'parked', { attempts: 8, lastError: 'Error: other', receivedAt: minutesAgo(5) }),
        ev('m3', 'pending'),
        ev('m4', 'done'),
        { ...ev('m5', 'pending'), pageId: '999' },
      ]);
      parkedId = parked!.id;
    });

    it('counts the backlog by state', async () => {
      const res = await h.request('get', '/inbox/health', { token: viewer });
      expect(res.status).to.equal(200);
      expect(res.body.counts).to.deep.equal({ pending: 1, done: 1, parked: 2, skipped: 0 });
      expect(res.body.due).to.equal(1);
      expect(res.body.oldestPendingAt).to.be.a('string');
    });

    it('lists parked events with their errors, without payloads', async () => {
      const res = await h.request('get', '/inbox/parked?limit=1', { token: viewer });
      expect(res.body.items).to.have.length(1);
      expect(res.body.items[0]).to.deep.include({ dedupeKey: 'm2', attempts: 8, lastError: 'Error: other' });
      expect(res.body.items[0]).to.not.have.property('payload');
      const next = await h.request('get', `/inbox/parked?limit=1&cursor=${res.body.nextCursor}`, {
        token: viewer,
      });
      expect(next.body.items[0].dedupeKey).to.equal('m1');
      expect(next.body.nextCursor).to.equal(null);
      const detail = await h.request('get', `/inbox/parked/${parkedId}`, { token: manager });
      expect(JSON.parse(detail.body.payload)).to.deep.equal({ message: { text: 'ciao' } });
    });

    it('retries a parked event (audited) and refuses to retry it twice', async () => {
      const res = await h.request('post', `/inbox/parked/${parkedId}/retry`, { token: manager });
      expect(res.status).to.equal(200);
      const doc = await InboxEventModel.findById(parkedId).lean();
      expect(doc).to.deep.include({ state: 'pending', attempts: 0 });
      expect(await lastAudit('inbox.retry')).to.deep.include({
        target: { type: 'inbox_event', id: parkedId },
      });
      const again = await h.request('post', `/inbox/parked/${parkedId}/retry`, { token: manager });
      expect(again.status).to.equal(409);
      expect(errorCode(again)).to.equal('not_parked');
      const missing = await h.request('post', '/inbox/parked/0123456789abcdef01234567/retry', {
        token: manager,
      });
      expect(missing.status).to.equal(404);
    });

    it('discards a parked event (audited)', async () => {
      const m2 = await InboxEventModel.findOne({ dedupeKey: 'm2' }).lean();
      const res = await h.request('post', `/inbox/parked/${String(m2!._id)}/discard`, { token: manager });
      expect(res.status).to.equal(200);
      const doc = await InboxEventModel.findById(m2!._id).lean();
      expect(doc!.state).to.equal('skipped');
      expect(doc!.expiresAt).to.be.instanceOf(Date);
      expect(await lastAudit('inbox.discard')).to.not.equal(null);
    });
  });

  describe('outbox health', () => {
    before(async () => {
      const msg = (key: string, state: OutboxState, extra: Record<string, unknown> = {}) => ({
        pageId: h.pageId,
        idempotencyKey: key,
        kind: 'message' as const,
        queueKey: 'fan:1002',
        seq: 1,
        recipient: { psid: '1002' },
        purpose: 'reply',
        body: '{"text":"secret body"}',
        state,
        nextAttemptAt: minutesAgo(1),
        createdAt: minutesAgo(5),
        ...extra,
      });
      await OutboxMessageModel.create([
        msg('o1', 'failed', {
          attempts: 10,
          lastError: { kind: 'permission', code: 200, subcode: 2018108, message: 'No permission' },
        }),
        msg('o2', 'refused', { refusedReason: 'outside_24h_window', createdAt: minutesAgo(3) }),
        msg('o3', 'pending'),
        msg('o4', 'sent'),
        msg('o5', 'sent'),
      ]);
    });

    it('counts by state', async () => {
      const res = await h.request('get', '/outbox/health', { token: viewer });
      expect(res.body.counts).to.deep.equal({ pending: 1, sent: 2, failed: 1, refused: 1, cancelled: 0 });
      expect(res.body.due).to.equal(1);
    });

    it('lists recent failures with error codes, never message bodies', async () => {
      const res = await h.request('get', '/outbox/failures', { token: viewer });
      expect(res.body.items.map((m: { state: string }) => m.state)).to.deep.equal(['refused', 'failed']);
      expect(res.body.items[0]).to.deep.include({ refusedReason: 'outside_24h_window', error: null });
      expect(res.body.items[1].error).to.deep.include({ kind: 'permission', code: 200, subcode: 2018108 });
      expect(res.text).to.not.include('secret body');
      const onlyFailed = await h.request('get', '/outbox/failures?state=failed', { token: viewer });
      expect(onlyFailed.body.items).to.have.length(1);
    });
  });

  describe('managers (owner only)', () => {
    it('creates a manager with a generated password that signs in; duplicates are 409', async () => {
      const res = await h.request('post', '/managers', {
        token: owner,
        body: { email: 'New.Person@Example.com', role: 'viewer' },
      });
      expect(res.status).to.equal(201);
      expect(res.body.manager).to.deep.include({
        email: 'new.person@example.com',
        role: 'viewer',
        disabled: false,
      });
      expect(res.body.manager).to.not.have.property('passwordHash');
      expect(res.body.generatedPassword).to.match(/^[\w-]{24}$/);
      const session = await h.login('new.person@example.com', res.body.generatedPassword);
      expect((await h.request('get', '/me', { session })).body.role).to.equal('viewer');
      expect(await lastAudit('manager.create')).to.deep.include({ after: { role: 'viewer' } });

      const dup = await h.request('post', '/managers', {
        token: owner,
        body: { email: 'new.person@example.com', role: 'owner' },
      });
      expect(dup.status).to.equal(409);
      expect(errorCode(dup)).to.equal('email_taken');
      const weak = await h.request('post', '/managers', {
        token: owner,
        body: { email: 'x@example.com', role: 'viewer', password: 'short' },
      });
      expect(weak.status).to.equal(400);
    });

    it('lists managers without password hashes', async () => {
      const res = await h.request('get', '/managers', { token: owner });
      expect(res.status).to.equal(200);
      expect(res.body.items.length).to.be.greaterThan(0);
      expect(res.text).to.not.include('scrypt$');
    });

    it('changes a role (audited before/after) and takes effect on the next request', async () => {
      const m = await h.makeManager('viewer');
      const session = await h.login(m.email, m.password);
      expect((await h.request('post', '/fans/1002/tags', { session, body: { tag: 'x' } })).status).to.equal(
        403,
      );
      const res = await h.request('patch', `/managers/${m.id}`, { token: owner, body: { role: 'manager' } });
      expect(res.status).to.equal(200);
      expect(res.body.role).to.equal('manager');
      expect(await lastAudit('manager.update')).to.deep.include({
        target: { type: 'manager', id: m.id },
        before: { role: 'viewer', disabled: false },
        after: { role: 'manager', disabled: false },
      });
      expect((await h.request('post', '/fans/1002/tags', { session, body: { tag: 'x' } })).status).to.equal(
        200,
      );
      expect((await h.request('patch', `/managers/${m.id}`, { token: owner, body: {} })).status).to.equal(
        400,
      );
    });

    it('disabling ends sessions at once and blocks sign-in', async () => {
      const m = await h.makeManager('manager');
      const session = await h.login(m.email, m.password);
      const res = await h.request('patch', `/managers/${m.id}`, { token: owner, body: { disabled: true } });
      expect(res.body).to.deep.include({ disabled: true });
      expect((await h.request('get', '/me', { session })).status).to.equal(401);
      const login = await h.request('post', '/session', { body: { email: m.email, password: m.password } });
      expect(login.status).to.equal(401);
    });

    it('keeps at least one active owner (409)', async () => {
      await ManagerModel.updateMany(
        { pageId: h.pageId, role: 'owner' },
        { $set: { disabledAt: new Date() } },
      );
      const o = await h.makeManager('owner');
      const demote = await h.request('patch', `/managers/${o.id}`, {
        token: owner,
        body: { role: 'manager' },
      });
      expect(demote.status).to.equal(409);
      expect(errorCode(demote)).to.equal('last_owner');
      const disable = await h.request('patch', `/managers/${o.id}`, {
        token: owner,
        body: { disabled: true },
      });
      expect(disable.status).to.equal(409);
      const second = await h.makeManager('owner');
      expect(
        (await h.request('patch', `/managers/${o.id}`, { token: owner, body: { role: 'manager' } })).status,
      ).to.equal(200);
      expect(
        (
          await h.request('patch', `/managers/0123456789abcdef01234567`, {
            token: owner,
            body: { role: 'manager' },
          })
        ).status,
      ).to.equal(404);
      void second;
    });
  });

  describe('tokens (owner only)', () => {
    it('creates a token shown once, lists it without secrets, revokes it (audited)', async () => {
      const res = await h.request('post', '/tokens', {
        token: owner,
        body: { name: 'zapier', role: 'viewer' },
      });
      expect(res.status).to.equal(201);
      expect(res.body.token).to.match(/^scb_[\w-]{43}$/);
      expect(res.body.token.startsWith(res.body.prefix)).to.equal(true);
      expect((await h.request('get', '/me', { token: res.body.token })).body.label).to.equal('zapier');
      expect(await lastAudit('token.create')).to.deep.include({ target: { type: 'token', id: res.body.id } });

      const list = await h.request('get', '/tokens', { token: owner });
      const listed = list.body.items.find((t: { id: string }) => t.id === res.body.id);
      expect(listed).to.not.have.property('token');
      expect(listed).to.not.have.property('tokenHash');
      expect(list.text).to.not.include(res.body.token);
      expect(listed.lastUsedAt).to.be.a('string');

      const revoked = await h.request('delete', `/tokens/${res.body.id}`, { token: owner });
      expect(revoked.body.revokedAt).to.be.a('string');
      expect(await lastAudit('token.revoke')).to.deep.include({ target: { type: 'token', id: res.body.id } });
      expect((await h.request('get', '/me', { token: res.body.token })).status).to.equal(401);
      const twice = await h.request('delete', `/tokens/${res.body.id}`, { token: owner });
      expect(twice.body.revokedAt).to.equal(revoked.body.revokedAt);
      const live = await h.request('get', '/tokens?includeRevoked=false', { token: owner });
      expect(live.body.items.map((t: { id: string }) => t.id)).to.not.include(res.body.id);
      expect(
        (await h.request('delete', '/tokens/0123456789abcdef01234567', { token: owner })).status,
      ).to.equal(404);
    });
  });

  describe('audit log', () => {
    it('pages newest first and filters', async () => {
      const first = await h.request('get', '/audit?limit=2', { token: manager });
      expect(first.status).to.equal(200);
      expect(first.body.items).to.have.length(2);
      expect(new Date(first.body.items[0].at).getTime()).to.be.at.least(
        new Date(first.body.items[1].at).getTime(),
      );
      const second = await h.request('get', `/audit?limit=2&cursor=${first.body.nextCursor}`, {
        token: manager,
      });
      const ids = [...first.body.items, ...second.body.items].map((e: { id: string }) => e.id);
      expect(new Set(ids).size).to.equal(4);
      const tags = await h.request('get', '/audit?action=fan.tag&targetId=1003', { token: manager });
      expect(tags.body.items.length).to.be.at.least(1);
      expect(tags.body.items.every((e: { action: string }) => e.action === 'fan.tag')).to.equal(true);
      expect((await h.request('get', '/audit', { token: viewer })).status).to.equal(403);
    });
  });
});
