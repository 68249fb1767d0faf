import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { DeletionRequestModel } from '../../src/db/models/deletion-request.js';
import { FanModel } from '../../src/db/models/fan.js';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { ERASED_INBOX_PAYLOAD } from '../../src/app/privacy.js';
import { parseSignedRequest } from '../../src/privacy/signed-request.js';
import { privacyDeletionsJob } from '../../src/jobs/privacy-deletions.js';
import { GraphClient } from '../../src/messenger/graph/client.js';
import { silentLogger } from '../../src/log.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

/** Exactly as Meta builds it: base64url(HMAC-SHA256(base64url(payload), secret)) + "." + base64url(payload). */
function metaSignedRequest(payload: unknown, secret: string): string {
  const encoded = Buffer.from(JSON.stringify(payload))
    .toString('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
  const sig = createHmac('sha256', secret)
    .update(encoded)
    .digest('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
  return `${sig}.${encoded}`;
}

describe('Meta data deletion callback: POST /privacy/deletion and the status page', function () {
  let t: TestApp;
  let secret: string;

  before(async () => {
    t = await startTestApp();
    secret = t.config.facebook.appSecret;
  });
  after(async () => {
    await t?.stop();
  });

  const post = (body: string, contentType = 'application/x-www-form-urlencoded') =>
    fetch(`${t.app.url}/privacy/deletion`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    });
  const form = (signed: string) => `signed_request=${encodeURIComponent(signed)}`;
  const payload = (userId: string) => ({
    algorithm: 'HMAC-SHA256',
    issued_at: Math.floor(Date.now() / 1000),
    user_id: userId,
  });

  it('verifies a valid signed_request, erases the matching fan and answers {url, confirmation_code}', async () => {
    const psid = '5000000000000001';
    expect(await t.say(psid, 'ciao')).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 3);
    await waitFor(
      async () => (await InboxEventModel.countDocuments({ queueKey: `fan:${psid}`, state: 'done' })) >= 1,
    );

    const res = await post(form(metaSignedRequest(payload(psid), secret)));
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { url: string; confirmation_code: string };
    expect(body.confirmation_code).to.match(/^[A-Za-z0-9_-]{16,64}$/);
    expect(body.url).to.equal(
      `${t.config.publicUrl.replace(':0', `:${t.app.port}`)}/privacy/deletion/${body.confirmation_code}`,
    );

    const fan = await FanModel.findOne({ psid }).lean();
    expect(fan?.forgottenAt).to.be.instanceOf(Date);
    const events = await InboxEventModel.find({ queueKey: `fan:${psid}` }).lean();
    expect(events.every((e) => e.payload === ERASED_INBOX_PAYLOAD)).to.equal(true);
    const request = await DeletionRequestModel.findOne({ code: body.confirmation_code }).lean();
    expect(request).to.deep.include({ state: 'completed', source: 'meta_callback' });
    expect(request?.subjectId).to.equal(undefined);
    expect(JSON.stringify(request)).to.not.contain(psid);

    const page = await fetch(new URL(body.url).pathname.replace(/^/, t.app.url) + '?lang=en');
    expect(page.status).to.equal(200);
    const html = await page.text();
    expect(html).to.contain(body.confirmation_code);
    expect(html).to.match(/Completed on/);
    expect(html).to.match(/personal data linked to this account has been deleted/);
    const it = await (await fetch(`${t.app.url}/privacy/deletion/${body.confirmation_code}?lang=it`)).text();
    expect(it).to.match(/Completata il/);
  });

  it('matches an app-scoped id recorded on the fan (asid), and confirms even when nothing matches', async () => {
    await FanModel.collection.insertOne({
      pageId: t.pageId,
      psid: '5000000000000002',
      asid: '9900000000000002',
      firstName: 'Marco',
      locale: 'it',
      firstInteractionAt: new Date(),
      lastInteractionAt: new Date(),
      forgottenAt: null,
    });
    const res = await post(form(metaSignedRequest(payload('9900000000000002'), secret)));
    expect(res.status).to.equal(200);
    const fan = await FanModel.findOne({ psid: '5000000000000002' }).lean();
    expect(fan?.forgottenAt).to.be.instanceOf(Date);
    expect(fan?.firstName).to.equal(undefined);

    const none = await post(form(metaSignedRequest(payload('9900000000009999'), secret)));
    expect(none.status).to.equal(200);
    const { confirmation_code } = (await none.json()) as { confirmation_code: string };
    const html = await (await fetch(`${t.app.url}/privacy/deletion/${confirmation_code}?lang=en`)).text();
    expect(html).to.match(/held no personal data/);
  });

  it('refuses a wrongly signed request with 400 JSON and erases nothing', async () => {
    const psid = '5000000000000003';
    expect(await t.say(psid, 'ciao')).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 3);
    const before = await DeletionRequestModel.countDocuments({});
    for (const signed of [
      metaSignedRequest(payload(psid), 'not-the-app-secret'),
      `${metaSignedRequest(payload(psid), secret).split('.')[0]}.${Buffer.from(JSON.stringify(payload('5000000000000099'))).toString('base64url')}`,
    ]) {
      const res = await post(form(signed));
      expect(res.status).to.equal(400);
      expect(res.headers.get('content-type')).to.match(/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('bad_signature');
    }
    expect(await DeletionRequestModel.countDocuments({})).to.equal(before);
    expect((await FanModel.findOne({ psid }).lean())?.forgottenAt ?? null).to.equal(null);
  });

  it("maps the app-scoped user_id Meta sends to the fan's PSID through the ID Matching API", async () => {
    const psid = '5000000000000077';
    const asid = '10229000000000077';
    t.fakeGraph.addUser({ psid, asid, firstName: 'Asia', lastName: 'Rossi', pageId: t.pageId });
    expect(await t.say(psid, 'ciao')).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 3);
    const before = await FanModel.findOne({ psid }).lean();
    expect(before?.forgottenAt).to.equal(undefined);

    const res = await post(form(metaSignedRequest(payload(asid), secret)));
    expect(res.status).to.equal(200);
    const { confirmation_code: code } = (await res.json()) as { confirmation_code: string };

    const fan = await FanModel.findOne({ psid }).lean();
    expect(fan?.forgottenAt).to.be.instanceOf(Date);
    const request = await DeletionRequestModel.findOne({ code }).lean();
    expect(request).to.deep.include({ state: 'completed' });
    expect(request?.result).to.deep.include({ fans: 1, idMatches: 1 });
    const lookups = t.fakeGraph.calls.filter((c) => c.path.endsWith(`/${asid}/ids_for_pages`));
    expect(lookups).to.have.length(1);
    expect(lookups[0]!.status).to.equal(200);
  });

  it('an id Meta cannot match erases nothing, completes, and does not retry', async () => {
    const res = await post(form(metaSignedRequest(payload('10229000000000999'), secret)));
    expect(res.status).to.equal(200);
    const { confirmation_code: code } = (await res.json()) as { confirmation_code: string };
    const request = await DeletionRequestModel.findOne({ code }).lean();
    expect(request).to.deep.include({ state: 'completed' });
    expect(request?.result).to.deep.include({ fans: 0, idMatches: 0 });
  });

  it('a Graph outage during the lookup leaves the request pending; the job finishes it later', async () => {
    const psid = '5000000000000078';
    const asid = '10229000000000078';
    t.fakeGraph.addUser({ psid, asid, firstName: 'Bruno', lastName: 'Verdi', pageId: t.pageId });
    expect(await t.say(psid, 'ciao')).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 3);
    t.fakeGraph.inject({ kind: '5xx', match: (c) => c.path.endsWith('/ids_for_pages') });

    const res = await post(form(metaSignedRequest(payload(asid), secret)));
    expect(res.status).to.equal(200); // Meta gets its code: the erasure is owed, not refused
    const { confirmation_code: code } = (await res.json()) as { confirmation_code: string };
    const pending = await DeletionRequestModel.findOne({ code }).lean();
    expect(pending).to.deep.include({ state: 'pending', attempts: 1 });
    expect(pending?.lastError).to.match(/GraphApiError/);
    expect((await FanModel.findOne({ psid }).lean())?.forgottenAt).to.equal(undefined);

    // The job's own run, a few minutes later (it takes requests pending for over a minute).
    const graph = new GraphClient({
      baseUrl: `${t.app.url}/fake-graph`,
      version: t.config.graph.version,
      appSecret: t.config.facebook.appSecret,
    });
    const run = await privacyDeletionsJob().run({
      now: new Date(Date.now() + 2 * 60_000),
      log: silentLogger,
      config: t.config,
      graph,
      page: t.config.facebook.page,
      signal: new AbortController().signal,
    });
    graph.close();
    expect(run.summary).to.deep.include({ completed: 1, failed: 0 });
    expect(await DeletionRequestModel.findOne({ code }).lean()).to.deep.include({ state: 'completed' });
    expect((await FanModel.findOne({ psid }).lean())?.forgottenAt).to.be.instanceOf(Date);
  });

  it('refuses malformed requests with 400 JSON, never 500', async () => {
    const signedGood = (p: unknown) => metaSignedRequest(p, secret);
    const cases: [string, string, string?][] = [
      ['', 'malformed'],
      ['signed_request=', 'malformed'],
      [form('no-dot-here'), 'malformed'],
      [form('a.b.c'), 'malformed'],
      [form('!!!.???'), 'malformed'],
      [form(`${'x'.repeat(20)}.${'y'.repeat(20)}`), 'bad_signature'],
      [form(signedGood({ algorithm: 'HMAC-SHA1', user_id: '1' })), 'unsupported_algorithm'],
      [form(signedGood({ algorithm: 'HMAC-SHA256' })), 'missing_user_id'],
      [form(signedGood({ algorithm: 'HMAC-SHA256', user_id: { $ne: null } })), 'missing_user_id'],
      [form(signedGood(['not', 'an', 'object'])), 'malformed'],
      ['{"signed_request": 12', 'malformed', 'application/json'],
      [`signed_request=${'a'.repeat(20_000)}`, 'malformed'],
      ['signed_request=%E0%A4%A', 'malformed'],
    ];
    for (const [body, code, type] of cases) {
      const res = await post(body, type);
      expect(res.status, body.slice(0, 40)).to.equal(400);
      const json = (await res.json()) as { error: { code: string } };
      expect(json.error.code, body.slice(0, 40)).to.equal(code);
    }
    // A payload that is signed but not JSON.
    const notJson = Buffer.from('not json').toString('base64url');
    const sig = createHmac('sha256', secret).update(notJson).digest('base64url');
    const res = await post(form(`${sig}.${notJson}`));
    expect(res.status).to.equal(400);
  });

  it('shows 404 for an unknown code, escaping whatever it is given', async () => {
    const res = await fetch(
      `${t.app.url}/privacy/deletion/${encodeURIComponent('<script>alert(1)</script>')}`,
    );
    expect(res.status).to.equal(404);
    const html = await res.text();
    expect(html).to.not.contain('<script>alert(1)');
    expect(html).to.match(/Nessuna richiesta/);
  });

  it('the privacy page names the deletion callback and the retention periods', async () => {
    const html = await (await fetch(`${t.app.url}/privacy?lang=en`)).text();
    expect(html).to.contain('/privacy/deletion');
    expect(html).to.match(/kept 7 days/);
    expect(html).to.match(/30 days/);
  });

  it('parseSignedRequest accepts padded base64url too', () => {
    const signed = metaSignedRequest(payload('123'), secret);
    const [s, p] = signed.split('.') as [string, string];
    const pad = (x: string) => x + '='.repeat((4 - (x.length % 4)) % 4);
    expect(parseSignedRequest(`${pad(s)}.${p}`, secret)).to.deep.include({ ok: true, userId: '123' });
  });
});
