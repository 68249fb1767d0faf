import { expect } from 'chai';
import fc from 'fast-check';
import { splitWebhookBody } from '../../../src/messenger/webhook/events.js';
import {
  changesBody,
  commentChange,
  deliveryEvent,
  echoEvent,
  envelope,
  messageEvent,
  messagingBody,
  optinEvent,
  postbackEvent,
  readEvent,
} from '../../../src/dev/webhook-payloads.js';

const PAGE = '100000000000077';
const FAN = '2300000000000001';
const now = new Date('2026-05-01T10:00:00Z');
const split = (body: unknown) => splitWebhookBody(body, now);

describe('splitWebhookBody', () => {
  it('splits messaging events: kind, mid dedupe key, fan queue and event time', () => {
    const msg = messageEvent({
      pageId: PAGE,
      psid: FAN,
      text: 'ciao',
      mid: 'm_1',
      timestamp: 1_700_000_000_000,
    });
    const pb = postbackEvent({ pageId: PAGE, psid: FAN, payload: 'menu:v1', title: 'Menu', mid: 'm_2' });
    const { events, problems } = split(messagingBody(PAGE, msg, pb));
    expect(problems).to.deep.equal([]);
    expect(events.map((e) => [e.kind, e.dedupeKey, e.queueKey, e.pageId])).to.deep.equal([
      ['message', 'mid:m_1', `fan:${FAN}`, PAGE],
      ['postback', 'mid:m_2', `fan:${FAN}`, PAGE],
    ]);
    expect(events[0]!.eventTime.getTime()).to.equal(1_700_000_000_000);
    expect(events[0]!.payload).to.deep.equal(msg);
  });

  it('keys an echo to the fan it was sent to (the recipient), not to the page', () => {
    const echo = echoEvent({
      pageId: PAGE,
      psid: FAN,
      appId: 42,
      text: 'hello',
      mid: 'm_echo',
      metadata: 'ob:x',
    });
    const [event] = split(messagingBody(PAGE, echo)).events;
    expect(event!.kind).to.equal('echo');
    expect(event!.queueKey).to.equal(`fan:${FAN}`);
    expect(event!.dedupeKey).to.equal('mid:m_echo');
  });

  it('dedupes deliveries and reads by fan and watermark: the same receipt twice has one key', () => {
    const d1 = deliveryEvent({ pageId: PAGE, psid: FAN, watermark: 1000, mids: ['a'] });
    const d2 = deliveryEvent({ pageId: PAGE, psid: FAN, watermark: 1000, mids: ['a'] });
    const d3 = deliveryEvent({ pageId: PAGE, psid: FAN, watermark: 2000 });
    const r1 = readEvent({ pageId: PAGE, psid: FAN, watermark: 1000, timestamp: 5 });
    const keys = split(messagingBody(PAGE, d1, d2, d3, r1)).events.map((e) => e.dedupeKey);
    expect(keys).to.deep.equal([
      `delivery:${FAN}:1000`,
      `delivery:${FAN}:1000`,
      `delivery:${FAN}:2000`,
      `read:${FAN}:1000`,
    ]);
    // A delivery without a timestamp takes the receive time.
    expect(split(messagingBody(PAGE, d3)).events[0]!.eventTime).to.deep.equal(now);
  });

  it('keeps standby copies apart from the primary copy of the same mid', () => {
    const msg = messageEvent({ pageId: PAGE, psid: FAN, text: 'hi', mid: 'm_s' });
    const { events } = split(envelope(PAGE, [{ messaging: [msg], standby: [msg] }]));
    expect(events.map((e) => [e.kind, e.dedupeKey])).to.deep.equal([
      ['message', 'mid:m_s'],
      ['standby', 'standby:mid:m_s'],
    ]);
  });

  it('classifies optins, referrals and handovers; an optin without sender queues by user_ref', () => {
    const optin = optinEvent({ pageId: PAGE, psid: FAN, token: 'tok' });
    const plugin = { recipient: { id: PAGE }, timestamp: 1, optin: { ref: 'r', user_ref: 'u1' } };
    const handover = {
      sender: { id: FAN },
      recipient: { id: PAGE },
      timestamp: 2,
      pass_thread_control: { new_owner_app_id: '1' },
    };
    const { events } = split(envelope(PAGE, [{ messaging: [optin, plugin as never, handover as never] }]));
    expect(events.map((e) => [e.kind, e.queueKey])).to.deep.equal([
      ['optin', `fan:${FAN}`],
      ['optin', 'user_ref:u1'],
      ['handover', `fan:${FAN}`],
    ]);
    // Events without ids get a content hash: the same bytes twice are one key, different bytes are not.
    const again = split(envelope(PAGE, [{ messaging: [optin] }])).events[0]!;
    expect(again.dedupeKey).to.equal(events[0]!.dedupeKey);
    expect(events[1]!.dedupeKey).to.not.equal(events[0]!.dedupeKey);
  });

  it('splits feed comment changes by comment and verb; an edit is keyed by its text', () => {
    const base = { pageId: PAGE, commentId: '1_99', postId: `${PAGE}_1`, from: { id: '7', name: 'A' } };
    const add = commentChange({ ...base, verb: 'add', message: 'voglio', createdTime: 1_700_000_000 });
    const edit1 = commentChange({ ...base, verb: 'edited', message: 'voglio 2' });
    const edit1again = commentChange({ ...base, verb: 'edited', message: 'voglio 2', createdTime: 5 });
    const edit2 = commentChange({ ...base, verb: 'edited', message: 'voglio 3' });
    const { events, problems } = split(changesBody(PAGE, add, edit1, edit1again, edit2));
    expect(problems).to.deep.equal([]);
    expect(events.every((e) => e.kind === 'feed' && e.queueKey === `post:${PAGE}_1`)).to.equal(true);
    const keys = events.map((e) => e.dedupeKey);
    expect(keys[0]).to.equal('comment:1_99:add');
    expect(keys[1]).to.match(/^comment:1_99:edited:[0-9a-f]{32}$/);
    expect(keys[2]).to.equal(keys[1]);
    expect(keys[3]).to.not.equal(keys[1]);
    // created_time is in seconds.
    expect(events[0]!.eventTime.getTime()).to.equal(1_700_000_000_000);
  });

  it('reports unusable parts as problems and keeps the usable ones', () => {
    const good = messageEvent({ pageId: PAGE, psid: FAN, text: 'x', mid: 'm_ok' });
    const body = {
      object: 'user',
      entry: [
        42,
        { time: 1 },
        { id: PAGE, messaging: 'nope' },
        { id: PAGE, messaging: [7, good] },
        { id: PAGE },
      ],
    };
    const { events, problems } = split(body);
    expect(events.map((e) => e.dedupeKey)).to.deep.equal(['mid:m_ok']);
    expect(problems).to.have.length(6);
    expect(split(null).problems).to.deep.equal(['body is not a JSON object']);
    expect(split({ object: 'page' }).problems).to.deep.equal(['body has no entry[]']);
    expect(split([]).events).to.deep.equal([]);
  });

  it('never throws, whatever JSON arrives (property)', () => {
    const fanId = fc.oneof(fc.string(), fc.integer(), fc.constant(FAN), fc.constant(null));
    const messaging = fc.record(
      {
        sender: fc.oneof(fc.record({ id: fanId }), fc.anything()),
        recipient: fc.oneof(fc.record({ id: fanId }), fc.anything()),
        timestamp: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.anything()),
        message: fc.oneof(
          fc.record(
            { mid: fc.anything(), is_echo: fc.anything(), text: fc.anything() },
            { requiredKeys: [] },
          ),
          fc.anything(),
        ),
        postback: fc.anything(),
        delivery: fc.oneof(fc.record({ watermark: fc.anything() }), fc.anything()),
        read: fc.anything(),
        optin: fc.oneof(fc.record({ user_ref: fc.anything() }), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const change = fc.record(
      {
        field: fc.oneof(fc.constant('feed'), fc.anything()),
        value: fc.oneof(
          fc.record(
            {
              item: fc.oneof(fc.constant('comment'), fc.anything()),
              verb: fc.anything(),
              comment_id: fc.oneof(fc.string(), fc.integer(), fc.anything()),
              post_id: fc.anything(),
              created_time: fc.oneof(fc.integer(), fc.string(), fc.double(), fc.anything()),
              message: fc.anything(),
            },
            { requiredKeys: [] },
          ),
          fc.anything(),
        ),
      },
      { requiredKeys: [] },
    );
    const entry = fc.oneof(
      fc.record(
        {
          id: fc.oneof(fc.constant(PAGE), fc.anything()),
          messaging: fc.oneof(fc.array(fc.oneof(messaging, fc.anything())), fc.anything()),
          standby: fc.oneof(fc.array(messaging), fc.anything()),
          changes: fc.oneof(fc.array(fc.oneof(change, fc.anything())), fc.anything()),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    const body = fc.oneof(
      fc.record({
        object: fc.oneof(fc.constant('page'), fc.anything()),
        entry: fc.oneof(fc.array(entry), fc.anything()),
      }),
      fc.jsonValue(),
      fc.anything(),
    );
    fc.assert(
      fc.property(body, (b) => {
        const result = splitWebhookBody(b, now);
        expect(result.events).to.be.an('array');
        for (const e of result.events) {
          expect(e.dedupeKey).to.be.a('string').and.not.equal('');
          expect(e.queueKey).to.be.a('string').and.not.equal('');
          expect(Number.isNaN(e.eventTime.getTime())).to.equal(false);
        }
      }),
      { numRuns: 2000 },
    );
    // Real JSON (what JSON.parse can produce) is the actual input domain.
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        splitWebhookBody(JSON.parse(JSON.stringify(v)), now);
      }),
      { numRuns: 1000 },
    );
  });
});
