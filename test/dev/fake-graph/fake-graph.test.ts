/**
 * The fake Graph API on its own (raw HTTP, no GraphClient): records, resets, odd inputs.
 */
import { expect } from 'chai';

import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../../src/dev/fake-graph/index.js';
import { appSecretProof } from '../../../src/messenger/graph/client.js';
import { APP_SECRET, PAGE, T0, VERSION } from './helpers.js';

const PSID = '2400000000000009';

describe('fake Graph API (raw HTTP)', () => {
  let fake: FakeGraph;
  let server: FakeGraphServer;
  let now = T0;
  const auth = `access_token=${PAGE.accessToken}&appsecret_proof=${appSecretProof(PAGE.accessToken, APP_SECRET)}`;
  const post = (path: string, body: string, type = 'application/json') =>
    fetch(`${server.url}/${VERSION}${path}?${auth}`, {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    });

  before(async () => {
    fake = createFakeGraph({ appSecret: APP_SECRET, pages: [PAGE], clock: { now: () => new Date(now) } });
    server = await fake.listen();
  });
  after(() => server.close());
  beforeEach(() => {
    fake.reset();
    now = T0;
  });

  it('malformed JSON → 400 / 100, and the call is recorded', async () => {
    const res = await post(`/${PAGE.id}/messages`, '{"recipient":');
    expect(res.status).to.equal(400);
    const body = (await res.json()) as { error: { code: number; type: string } };
    expect(body.error.code).to.equal(100);
    expect(fake.calls).to.have.length(1);
    expect(fake.calls[0]).to.include({ status: 400, method: 'POST' });
  });

  it('unsupported paths → 100 / 33 in Meta’s shape', async () => {
    const res = await post(`/${PAGE.id}/feed`, '{}');
    expect(res.status).to.equal(400);
    const { error } = (await res.json()) as { error: Record<string, unknown> };
    expect(error).to.include({ code: 100, error_subcode: 33, type: 'GraphMethodException' });
    expect(error.message).to.match(/^Unsupported post request/);
    expect(error.fbtrace_id).to.be.a('string');
  });

  it('accepts form-encoded sends with JSON-string params (as Meta does)', async () => {
    fake.noteUserInteraction(PAGE.id, PSID);
    const form = new URLSearchParams({
      recipient: JSON.stringify({ id: PSID }),
      messaging_type: 'RESPONSE',
      message: JSON.stringify({ text: 'ciao' }),
    });
    const res = await post(`/${PAGE.id}/messages`, form.toString(), 'application/x-www-form-urlencoded');
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { recipient_id: string; message_id: string };
    expect(body.recipient_id).to.equal(PSID);
    expect(fake.messagesTo(PSID)[0]!.message).to.deep.equal({ text: 'ciao' });
  });

  it('message ids are unique', async () => {
    fake.noteUserInteraction(PAGE.id, PSID);
    const ids = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const res = await post(
          `/${PAGE.id}/messages`,
          JSON.stringify({ recipient: { id: PSID }, messaging_type: 'UPDATE', message: { text: 'x' } }),
        );
        return ((await res.json()) as { message_id: string }).message_id;
      }),
    );
    expect(new Set(ids).size).to.equal(200);
    expect(fake.messages).to.have.length(200);
  });

  it('reset() clears records in place and forgets windows, comments and faults', async () => {
    const calls = fake.calls;
    fake.noteUserInteraction(PAGE.id, PSID);
    fake.inject({ kind: '5xx', count: 3 });
    await post(`/${PAGE.id}/messages`, '{}');
    expect(calls).to.have.length(1);
    fake.reset();
    expect(fake.calls).to.equal(calls);
    expect(calls).to.have.length(0);
    expect(fake.pendingFaults()).to.equal(0);
    const res = await post(
      `/${PAGE.id}/messages`,
      JSON.stringify({ recipient: { id: PSID }, messaging_type: 'RESPONSE', message: { text: 'x' } }),
    );
    expect(((await res.json()) as { error: { error_subcode: number } }).error.error_subcode).to.equal(
      2018001,
    );
  });

  it('the clock drives the window (clock object form)', async () => {
    fake.noteUserInteraction(PAGE.id, PSID);
    const send = () =>
      post(
        `/${PAGE.id}/messages`,
        JSON.stringify({ recipient: { id: PSID }, messaging_type: 'RESPONSE', message: { text: 'x' } }),
      );
    expect((await send()).status).to.equal(200);
    now += 24 * 60 * 60 * 1000;
    const res = await send();
    expect(res.status).to.equal(400);
    expect(((await res.json()) as { error: { code: number } }).error.code).to.equal(10);
  });

  it('a commenter’s PSID is stable and messagesTo() includes the private reply', async () => {
    fake.noteComment(PAGE.id, { commentId: '1_2', postId: '1', fromId: '42', createdTime: new Date(T0) });
    const psid = fake.psidForComment('1_2')!;
    expect(psid).to.equal(fake.psidForComment('1_2'));
    const res = await post(
      `/${PAGE.id}/messages`,
      JSON.stringify({ recipient: { comment_id: '1_2' }, message: { text: 'Ti rispondo qui' } }),
    );
    expect(res.status).to.equal(200);
    expect(fake.messagesTo(psid).map((m) => m.commentId)).to.deep.equal(['1_2']);
  });

  it('refuses an inject with a bad count', () => {
    expect(() => fake.inject({ kind: '5xx', count: 0 })).to.throw(/count/);
  });
});
