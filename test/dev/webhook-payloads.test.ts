import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type IncomingMessage } from 'node:http';
import { expect } from 'chai';
import {
  changesBody,
  commentChange,
  deliveryEvent,
  echoEvent,
  envelope,
  handoverEvent,
  messageEvent,
  messagingBody,
  newCommentId,
  newMid,
  optinEvent,
  postbackEvent,
  postSignedWebhook,
  readEvent,
  referralEvent,
  serializeLikeMeta,
  signBody,
  webhookHeaders,
} from '../../src/dev/webhook-payloads.js';

const PAGE = '100000000000001';
const PSID = '2400000000000001';
const SECRET = 'simulator-app-secret';

function verify(raw: Buffer, header: string | undefined, secret: string): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'), 'utf8');
  const got = Buffer.from(header.slice('sha256='.length), 'utf8');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

describe('dev/webhook-payloads', () => {
  describe('serializeLikeMeta', () => {
    it('escapes every non-ASCII character as lowercase \\uXXXX and / as \\/', () => {
      const raw = serializeLikeMeta({ text: 'Perché è così? Ünïcödé ✓ 😀 a/b', n: 1 });
      expect(raw).to.equal(
        '{"text":"Perch\\u00e9 \\u00e8 cos\\u00ec? \\u00dcn\\u00efc\\u00f6d\\u00e9 \\u2713 \\ud83d\\ude00 a\\/b","n":1}',
      );
      expect(/^[\x20-\x7e]*$/.test(raw)).to.equal(true);
    });

    it('round-trips through JSON.parse', () => {
      const obj = { text: 'Ciao 👋 <script>alert(1)</script> "q" \\ \n €', url: 'https://x.y/z?a=1' };
      expect(JSON.parse(serializeLikeMeta(obj))).to.deep.equal(obj);
    });
  });

  describe('signBody', () => {
    it('signs the escaped bytes so a receiver verifying the raw body with node crypto accepts it', () => {
      const body = messagingBody(
        PAGE,
        messageEvent({ pageId: PAGE, psid: PSID, text: 'Sì, la taglia è M 👖' }),
      );
      const raw = serializeLikeMeta(body);
      const sig = signBody(raw, SECRET);
      expect(sig).to.match(/^sha256=[0-9a-f]{64}$/);
      expect(verify(Buffer.from(raw, 'utf8'), sig, SECRET)).to.equal(true);
      expect(verify(Buffer.from(raw, 'utf8'), sig, 'another-secret')).to.equal(false);
      // Re-serialising (unescaped) changes the bytes: a receiver that does so would reject Meta's POST.
      expect(verify(Buffer.from(JSON.stringify(JSON.parse(raw)), 'utf8'), sig, SECRET)).to.equal(false);
      expect(signBody(Buffer.from(raw), SECRET)).to.equal(sig);
    });

    it('webhookHeaders covers the signature modes', () => {
      const raw = '{"object":"page","entry":[]}';
      expect(webhookHeaders(raw, SECRET, 'valid')).to.include.keys('x-hub-signature-256', 'x-hub-signature');
      expect(
        verify(Buffer.from(raw), webhookHeaders(raw, SECRET, 'valid')['x-hub-signature-256'], SECRET),
      ).to.equal(true);
      expect(
        verify(Buffer.from(raw), webhookHeaders(raw, SECRET, 'invalid')['x-hub-signature-256'], SECRET),
      ).to.equal(false);
      expect(webhookHeaders(raw, SECRET, 'none')).to.not.have.any.keys(
        'x-hub-signature-256',
        'x-hub-signature',
      );
      const sha1 = webhookHeaders(raw, SECRET, 'sha1-only');
      expect(sha1).to.not.have.key('x-hub-signature-256');
      expect(sha1['x-hub-signature']).to.equal(
        `sha1=${createHmac('sha1', SECRET).update(raw).digest('hex')}`,
      );
    });
  });

  describe('messaging events', () => {
    it('messageEvent: text, quick reply, attachments, unique mids', () => {
      const ev = messageEvent({ pageId: PAGE, psid: PSID, text: 'Taglia M', quickReplyPayload: 'size:v1:M' });
      expect(ev.sender).to.deep.equal({ id: PSID });
      expect(ev.recipient).to.deep.equal({ id: PAGE });
      expect(ev.timestamp).to.be.a('number');
      expect(ev.message!.mid).to.match(/^m_[A-Za-z0-9_-]{20,}$/);
      expect(ev.message).to.deep.include({ text: 'Taglia M', quick_reply: { payload: 'size:v1:M' } });
      const img = messageEvent({
        pageId: PAGE,
        psid: PSID,
        attachments: [{ type: 'image', payload: { url: 'https://cdn.example/x.jpg' } }],
      });
      expect(img.message).to.not.have.key('text');
      expect(img.message!.attachments![0]!.type).to.equal('image');
      const mids = new Set(Array.from({ length: 200 }, () => newMid()));
      expect(mids.size).to.equal(200);
      expect(
        messageEvent({ pageId: PAGE, psid: PSID, text: 'x', mid: 'm_fixed', timestamp: 5 }),
      ).to.deep.equal({
        sender: { id: PSID },
        recipient: { id: PAGE },
        timestamp: 5,
        message: { mid: 'm_fixed', text: 'x' },
      });
    });

    it('postbackEvent with and without an m.me referral', () => {
      const plain = postbackEvent({ pageId: PAGE, psid: PSID, payload: 'GET_STARTED', title: 'Get Started' });
      expect(plain.postback).to.have.keys('mid', 'title', 'payload');
      const ref = postbackEvent({
        pageId: PAGE,
        psid: PSID,
        payload: 'GET_STARTED',
        title: 'Get Started',
        referral: { ref: 'inv_abc', source: 'SHORTLINK', type: 'OPEN_THREAD' },
      });
      expect(ref.postback!.referral).to.deep.equal({
        ref: 'inv_abc',
        source: 'SHORTLINK',
        type: 'OPEN_THREAD',
      });
    });

    it('referral, delivery, read, echo, optin, handover', () => {
      expect(referralEvent({ pageId: PAGE, psid: PSID, ref: 'gb_42' }).referral).to.deep.equal({
        ref: 'gb_42',
        source: 'SHORTLINK',
        type: 'OPEN_THREAD',
      });
      const d = deliveryEvent({ pageId: PAGE, psid: PSID, mids: ['m_1'], watermark: 10 });
      expect(d).to.deep.equal({
        sender: { id: PSID },
        recipient: { id: PAGE },
        delivery: { mids: ['m_1'], watermark: 10 },
      });
      expect(readEvent({ pageId: PAGE, psid: PSID, watermark: 11 }).read).to.deep.equal({ watermark: 11 });
      const echo = echoEvent({ pageId: PAGE, psid: PSID, appId: '1234', text: 'hi', metadata: 'ob:1' });
      expect(echo.sender).to.deep.equal({ id: PAGE });
      expect(echo.recipient).to.deep.equal({ id: PSID });
      expect(echo.message).to.deep.include({ is_echo: true, app_id: 1234, text: 'hi', metadata: 'ob:1' });
      const stop = optinEvent({ pageId: PAGE, psid: PSID, token: 'tok', status: 'STOP NOTIFICATIONS' });
      expect(stop.optin).to.deep.include({
        type: 'notification_messages',
        notification_messages_token: 'tok',
        notification_messages_status: 'STOP NOTIFICATIONS',
      });
      expect(optinEvent({ pageId: PAGE, psid: PSID, token: 't' }).optin).to.not.have.key(
        'notification_messages_status',
      );
      expect(
        handoverEvent({
          pageId: PAGE,
          psid: PSID,
          kind: 'pass',
          otherAppId: '263902037430900',
          ownAppId: '1',
        }),
      )
        .to.have.property('pass_thread_control')
        .that.deep.equals({ previous_owner_app_id: '1', new_owner_app_id: '263902037430900' });
      expect(
        handoverEvent({
          pageId: PAGE,
          psid: PSID,
          kind: 'take',
          otherAppId: '263902037430900',
          metadata: 'm',
        }),
      )
        .to.have.property('take_thread_control')
        .that.deep.equals({ previous_owner_app_id: '263902037430900', metadata: 'm' });
      expect(handoverEvent({ pageId: PAGE, psid: PSID, kind: 'request', otherAppId: '9' }))
        .to.have.property('request_thread_control')
        .that.deep.equals({ requested_owner_app_id: '9' });
    });
  });

  describe('feed changes', () => {
    const postId = `${PAGE}_200000000000001`;
    it('commentChange: top-level comment with from, unix-seconds created_time', () => {
      const commentId = newCommentId(postId);
      expect(commentId).to.match(/^200000000000001_\d{15}$/);
      const c = commentChange({
        pageId: PAGE,
        verb: 'add',
        commentId,
        postId,
        from: { id: '9000001', name: 'Giulia Rossi' },
        message: 'Voglio la M!',
        createdTime: 1_760_000_000,
      });
      expect(c.field).to.equal('feed');
      expect(c.value).to.deep.include({
        item: 'comment',
        verb: 'add',
        comment_id: commentId,
        post_id: postId,
        parent_id: postId,
        from: { id: '9000001', name: 'Giulia Rossi' },
        message: 'Voglio la M!',
        created_time: 1_760_000_000,
      });
      expect(c.value.post.id).to.equal(postId);
    });

    it('commentChange: reply, legacy sender fields, remove without message', () => {
      const reply = commentChange({
        pageId: PAGE,
        verb: 'add',
        commentId: '2_3',
        postId,
        parentId: '2_1',
        from: { id: '7', name: 'Marco' },
        legacySender: true,
        message: 'anch io',
      });
      expect(reply.value.parent_id).to.equal('2_1');
      expect(reply.value).to.include({ sender_id: '7', sender_name: 'Marco' });
      expect(reply.value).to.not.have.key('from');
      const removed = commentChange({ pageId: PAGE, verb: 'remove', commentId: '2_3', postId, message: 'x' });
      expect(removed.value).to.not.have.key('message');
      expect(removed.value.created_time).to.be.a('number').below(1e11);
    });
  });

  describe('envelope', () => {
    it('builds one entry per spec, with messaging, standby or changes', () => {
      const m = messageEvent({ pageId: PAGE, psid: PSID, text: 'a' });
      const c = commentChange({ pageId: PAGE, verb: 'add', commentId: '1_2', postId: '1', message: 'b' });
      const body = envelope(PAGE, [
        { messaging: [m] },
        { standby: [m] },
        { changes: [c], id: '42', time: 7 },
      ]);
      expect(body.object).to.equal('page');
      expect(body.entry).to.have.length(3);
      expect(body.entry[0]).to.have.keys('id', 'time', 'messaging');
      expect(body.entry[1]).to.have.keys('id', 'time', 'standby');
      expect(body.entry[2]).to.deep.equal({ id: '42', time: 7, changes: [c] });
      expect(messagingBody(PAGE, m, m).entry[0]!.messaging).to.have.length(2);
      expect(changesBody(PAGE, c).entry[0]!.changes).to.deep.equal([c]);
    });
  });

  describe('postSignedWebhook', () => {
    it('sends escaped, signed bytes a strict receiver accepts', async () => {
      const seen: { raw: Buffer; headers: IncomingMessage['headers'] }[] = [];
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const raw = Buffer.concat(chunks);
          seen.push({ raw, headers: req.headers });
          const ok = verify(raw, req.headers['x-hub-signature-256'] as string | undefined, SECRET);
          res.statusCode = ok ? 200 : 403;
          res.end(ok ? 'EVENT_RECEIVED' : 'bad signature');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/messages`;
      try {
        const body = messagingBody(PAGE, messageEvent({ pageId: PAGE, psid: PSID, text: 'Ciao è 😀' }));
        expect(await postSignedWebhook(url, body, SECRET)).to.deep.equal({
          status: 200,
          text: 'EVENT_RECEIVED',
        });
        expect(seen[0]!.raw.toString('utf8')).to.include('Ciao \\u00e8 \\ud83d\\ude00');
        expect(seen[0]!.headers['content-type']).to.equal('application/json');
        expect((await postSignedWebhook(url, body, SECRET, { signature: 'invalid' })).status).to.equal(403);
        expect((await postSignedWebhook(url, body, SECRET, { signature: 'none' })).status).to.equal(403);
        expect((await postSignedWebhook(url, body, SECRET, { signature: 'sha1-only' })).status).to.equal(403);
        expect(seen[3]!.headers['x-hub-signature']).to.match(/^sha1=[0-9a-f]{40}$/);
        // A pre-serialised string is sent byte for byte.
        const raw = '{"object":"page","entry":[]}';
        await postSignedWebhook(url, raw, SECRET);
        expect(seen[4]!.raw.toString('utf8')).to.equal(raw);
      } finally {
        await new Promise((r) => server.close(r));
      }
    });
  });
});
