import { expect } from 'chai';
import { FanModel } from '../../../src/db/models/fan.js';
import { OutboxMessageModel } from '../../../src/db/models/outbox-message.js';
import type { GraphClient } from '../../../src/messenger/graph/client.js';
import { GraphNetworkError } from '../../../src/messenger/graph/errors.js';
import { enqueueMessages, type OutgoingItem } from '../../../src/messenger/outbox/enqueue.js';
import { OutboxSender } from '../../../src/messenger/outbox/sender.js';
import { silentLogger } from '../../../src/log.js';
import { waitFor } from '../../support/app.js';
import { useTestDatabase } from './mongo.js';

const PAGE = { id: '100000000000066', accessToken: 'token' };

interface Call {
  readonly psid: string;
  readonly text: string;
  readonly messagingType: unknown;
}

/** A Graph client that records sends; `fail` decides which calls throw a temporary error. */
function fakeGraph(fail: (call: Call) => boolean = () => false): { graph: GraphClient; calls: Call[] } {
  const calls: Call[] = [];
  let n = 0;
  const graph = {
    async sendMessage(_token: string, _page: string, body: Record<string, unknown>) {
      const call: Call = {
        psid: String((body.recipient as { id: string }).id),
        text: String((body.message as { text: string }).text),
        messagingType: body.messaging_type,
      };
      calls.push(call);
      if (fail(call))
        throw new GraphNetworkError('connection refused', { code: 'ECONNREFUSED', timedOut: false });
      n += 1;
      return { messageId: `m_${n}`, recipientId: call.psid };
    },
  } as unknown as GraphClient;
  return { graph, calls };
}

const reply = (psid: string, text: string, extra: Partial<OutgoingItem> = {}): OutgoingItem => ({
  pageId: PAGE.id,
  idempotencyKey: `k:${psid}:${text}`,
  kind: 'message',
  recipient: { psid },
  purpose: 'reply',
  body: { text },
  ...extra,
});

describe('OutboxSender (MongoDB)', function () {
  this.timeout(30_000);
  const db = useTestDatabase();
  const running: OutboxSender[] = [];
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  beforeEach(async () => {
    offsetMs = 0;
    await db.clear();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  const start = (graph: GraphClient) => {
    const sender = new OutboxSender({
      graph,
      page: PAGE,
      log: silentLogger,
      now,
      ratePerSecond: 1000,
      maxAttempts: 5,
      pollMs: 10,
    });
    running.push(sender);
    sender.start();
    return sender;
  };
  const stateOf = async (key: string) =>
    (await OutboxMessageModel.collection.findOne({ idempotencyKey: key }))!;

  it('a message waiting for its retry holds the same fan’s later messages; other fans go on', async () => {
    const policy = { lastInteractionAt: new Date(), reachable: true };
    await enqueueMessages([reply('A', 'a1', { policy }), reply('A', 'a2', { policy })], new Date());
    const { graph, calls } = fakeGraph((call) => call.text === 'a1' && calls.length === 1);
    const sender = start(graph);
    await waitFor(async () => (await stateOf('k:A:a1')).lastError !== undefined);
    await enqueueMessages([reply('B', 'b1', { policy }), reply('A', 'a3', { policy })], new Date());
    sender.wake();
    await waitFor(async () => (await stateOf('k:B:b1')).state === 'sent');
    // The sender has looked at A's queue again (b1 went after a3 was written): a1 still waits.
    expect(calls.map((c) => c.text)).to.deep.equal(['a1', 'b1']);
    const waiting = await stateOf('k:A:a1');
    expect(waiting).to.deep.include({ state: 'pending', attempts: 1 });
    expect(waiting.leaseUntil ?? null).to.equal(null);
    offsetMs += 10 * 60_000;
    sender.wake();
    await waitFor(async () => (await stateOf('k:A:a3')).state === 'sent');
    expect(calls.map((c) => c.text)).to.deep.equal(['a1', 'b1', 'a1', 'a2', 'a3']);
    expect((await stateOf('k:A:a1')).attempts).to.equal(2);
  });

  it('a reply carrying the fan’s policy needs no fan lookup; a promotion always reads the fan (STOP holds)', async () => {
    const recent = new Date(Date.now() - 60_000);
    await FanModel.collection.insertOne({
      pageId: PAGE.id,
      psid: 'C',
      lastInteractionAt: recent,
      reachable: true,
      marketingOptOut: true,
    });
    await enqueueMessages(
      [
        // No fan record for D: only the snapshot can let this reply through.
        reply('D', 'd1', { policy: { lastInteractionAt: recent, reachable: true } }),
        reply('C', 'promo', { purpose: 'promotion', policy: { lastInteractionAt: recent, reachable: true } }),
        // Outside the 24 h window by the snapshot: refused like a looked-up fan would be.
        reply('C', 'late', {
          policy: { lastInteractionAt: new Date(Date.now() - 3 * 86_400_000), reachable: true },
        }),
      ],
      new Date(),
    );
    const { graph, calls } = fakeGraph();
    start(graph);
    await waitFor(async () => (await OutboxMessageModel.countDocuments({ state: 'pending' })) === 0);
    expect(calls.map((c) => [c.text, c.messagingType])).to.deep.equal([['d1', 'RESPONSE']]);
    expect((await stateOf('k:C:promo')).refusedReason).to.equal('opted_out');
    expect((await stateOf('k:C:late')).state).to.equal('refused');
  });

  it('a send left in doubt by a dead sender waits once for its echo, then goes, counted once', async () => {
    await FanModel.collection.insertOne({
      pageId: PAGE.id,
      psid: 'E',
      lastInteractionAt: new Date(),
      reachable: true,
    });
    await enqueueMessages([reply('E', 'e1')], new Date());
    // Claimed by a sender that died before recording the result.
    await OutboxMessageModel.collection.updateOne(
      { idempotencyKey: 'k:E:e1' },
      { $set: { attempts: 1, leaseUntil: new Date(Date.now() - 1000) } },
    );
    const { graph, calls } = fakeGraph();
    const sender = start(graph);
    await waitFor(async () => (await stateOf('k:E:e1')).inDoubtAt instanceof Date);
    const waiting = await stateOf('k:E:e1');
    expect(waiting).to.deep.include({ state: 'pending', attempts: 1 });
    expect(calls).to.have.length(0);
    offsetMs += 60_000;
    sender.wake();
    await waitFor(async () => (await stateOf('k:E:e1')).state === 'sent');
    const sent = await stateOf('k:E:e1');
    expect(sent.attempts).to.equal(2);
    expect(sent.inDoubtAt).to.equal(undefined);
    expect(calls.map((c) => c.text)).to.deep.equal(['e1']);
  });

  it('a send that timed out after it left is in doubt: its echo settles it, else it goes again once', async () => {
    const policy = { lastInteractionAt: new Date(), reachable: true };
    await enqueueMessages([reply('T', 'echoed', { policy }), reply('U', 'silent', { policy })], new Date());
    const calls: string[] = [];
    // Meta took both, but no answer came back in time (the dangerous timeout).
    const graph = {
      async sendMessage(_token: string, _page: string, body: Record<string, unknown>) {
        const text = String((body.message as { text: string }).text);
        calls.push(text);
        if (calls.filter((c) => c === text).length === 1)
          throw new GraphNetworkError('no answer within 10000 ms', { code: 'ECONNABORTED', timedOut: true });
        return { messageId: `m_${calls.length}`, recipientId: null };
      },
    } as unknown as GraphClient;
    const sender = start(graph);
    await waitFor(async () => (await stateOf('k:U:silent')).inDoubtAt instanceof Date);
    await waitFor(async () => (await stateOf('k:T:echoed')).inDoubtAt instanceof Date);
    // Past its backoff but inside the echo grace: nothing is sent again.
    offsetMs += 5_000;
    sender.wake();
    await waitFor(async () => (await OutboxMessageModel.countDocuments({ state: 'pending' })) === 2);
    expect(calls.sort()).to.deep.equal(['echoed', 'silent']);
    // The echo of the first one arrives (confirmEcho marks it sent); the second stays silent.
    await OutboxMessageModel.collection.updateOne(
      { idempotencyKey: 'k:T:echoed', state: 'pending' },
      { $set: { state: 'sent' } },
    );
    offsetMs += 60_000;
    sender.wake();
    await waitFor(async () => (await stateOf('k:U:silent')).state === 'sent');
    expect(calls.sort()).to.deep.equal(['echoed', 'silent', 'silent']);
  });
});
