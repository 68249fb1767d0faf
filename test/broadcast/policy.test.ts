/** The per-recipient decision of a broadcast: purpose × window × opt-in × reachability (× STOP, cap). */
import { expect } from 'chai';
import {
  checkUpdateContent,
  decideRecipient,
  DEFAULT_FREQUENCY_CAP,
  transition,
  BROADCAST_STATES,
  type BroadcastPurpose,
  type RecipientDecision,
} from '../../src/domain/broadcast-state.js';
import { reachBucket, type FanReachFields } from '../../src/domain/segment.js';

const NOW = new Date('2026-11-24T12:00:00Z');
const h = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000);
const OPTIN = { channel: 'notification_messages', token: 'tok', status: 'active' };

type Window = 'inside' | 'outside' | 'never';
type OptIn = 'none' | 'active' | 'stopped' | 'capped';
const lastFor: Record<Window, Date | null> = { inside: h(2), outside: h(30), never: null };
const optInFor: Record<OptIn, FanReachFields['optIns']> = {
  none: [],
  active: [OPTIN],
  stopped: [{ ...OPTIN, status: 'stopped' }],
  capped: [{ ...OPTIN, lastSentAt: h(10) }],
};

function fan(w: Window, o: OptIn, reachable: boolean, optOut = false): FanReachFields {
  return {
    psid: 'p',
    lastInteractionAt: lastFor[w],
    reachable,
    marketingOptOut: optOut,
    optIns: optInFor[o],
  };
}

const decide = (f: FanReachFields, purpose: BroadcastPurpose, recentPromotions = 0): RecipientDecision =>
  decideRecipient(f, { purpose, now: NOW, recentPromotions, cap: DEFAULT_FREQUENCY_CAP });

describe('broadcast recipient policy (table)', () => {
  // [purpose, window, opt-in, reachable] → expected
  const table: [BroadcastPurpose, Window, OptIn, boolean, string][] = [
    ['promotion', 'inside', 'none', true, 'send UPDATE'],
    ['promotion', 'inside', 'active', true, 'send UPDATE'],
    ['promotion', 'outside', 'none', true, 'skip outside_window'],
    ['promotion', 'never', 'none', true, 'skip outside_window'],
    ['promotion', 'outside', 'active', true, 'skip optin_channel_unsupported'],
    ['promotion', 'outside', 'stopped', true, 'skip optin_stopped'],
    ['promotion', 'outside', 'capped', true, 'skip optin_cap_reached'],
    ['promotion', 'inside', 'none', false, 'skip unreachable'],
    ['promotion', 'outside', 'active', false, 'skip unreachable'],
    ['update', 'inside', 'none', true, 'send UPDATE'],
    ['update', 'outside', 'none', true, 'send MESSAGE_TAG ACCOUNT_UPDATE'],
    ['update', 'never', 'none', true, 'send MESSAGE_TAG ACCOUNT_UPDATE'],
    ['update', 'outside', 'active', true, 'send MESSAGE_TAG ACCOUNT_UPDATE'],
    ['update', 'inside', 'none', false, 'skip unreachable'],
    ['update', 'outside', 'none', false, 'skip unreachable'],
  ];
  const show = (d: RecipientDecision) =>
    d.send ? `send ${d.messagingType}${d.tag ? ` ${d.tag}` : ''}` : `skip ${d.reason}`;

  for (const [purpose, w, o, reachable, expected] of table) {
    it(`${purpose} × ${w} window × opt-in ${o} × ${reachable ? 'reachable' : 'unreachable'} → ${expected}`, () => {
      expect(show(decide(fan(w, o, reachable), purpose))).to.equal(expected);
    });
  }

  it('no promotion is ever tagged, whatever the fan', () => {
    for (const w of ['inside', 'outside', 'never'] as Window[])
      for (const o of ['none', 'active', 'stopped', 'capped'] as OptIn[])
        for (const r of [true, false])
          for (const optOut of [true, false]) {
            const d = decide(fan(w, o, r, optOut), 'promotion');
            if (d.send) expect(d.messagingType).to.not.equal('MESSAGE_TAG');
          }
  });

  it('STOP excludes promotions everywhere but not account updates', () => {
    expect(show(decide(fan('inside', 'active', true, true), 'promotion'))).to.equal('skip opted_out');
    expect(show(decide(fan('inside', 'none', true, true), 'update'))).to.equal('send UPDATE');
  });

  it('the frequency cap skips a promotion (not an update) after max promotions in the window', () => {
    expect(show(decide(fan('inside', 'none', true), 'promotion', 1))).to.equal('skip frequency_cap');
    expect(show(decide(fan('inside', 'none', true), 'update', 5))).to.equal('send UPDATE');
    const uncapped = decideRecipient(fan('inside', 'none', true), {
      purpose: 'promotion',
      now: NOW,
      recentPromotions: 9,
      cap: null,
    });
    expect(uncapped.send).to.equal(true);
  });

  it('reach buckets: window, opt-in, updates only, unreachable', () => {
    expect(reachBucket(fan('inside', 'none', true), NOW)).to.equal('window');
    expect(reachBucket(fan('outside', 'active', true), NOW)).to.equal('optin');
    expect(reachBucket(fan('outside', 'capped', true), NOW)).to.equal('updatesOnly');
    expect(reachBucket(fan('never', 'none', true), NOW)).to.equal('updatesOnly');
    expect(reachBucket(fan('inside', 'none', false), NOW)).to.equal('unreachable');
  });

  it('update content: plain text only, no offers', () => {
    expect(checkUpdateContent([{ text: 'We updated the privacy policy of your account.' }]).ok).to.equal(
      true,
    );
    expect(checkUpdateContent([{ text: 'Sconto del 20% per te' }]).ok).to.equal(false);
    expect(checkUpdateContent([{ text: 'Nuove offerte in arrivo' }]).ok).to.equal(false);
    expect(checkUpdateContent([{ text: 'Free shipping today' }]).ok).to.equal(false);
    expect(checkUpdateContent([{ text: 'Notice', card: { title: 'x' } }]).ok).to.equal(false);
    expect(checkUpdateContent([{ text: 'Notice', quickReplies: [{}] }]).ok).to.equal(false);
  });

  it('lifecycle table: draft → scheduled → sending ⇄ paused → completed; cancel until final', () => {
    expect(transition('draft', 'schedule')).to.include({ ok: true, to: 'scheduled' });
    expect(transition('scheduled', 'start')).to.include({ ok: true, to: 'sending' });
    expect(transition('sending', 'pause')).to.include({ ok: true, to: 'paused' });
    expect(transition('paused', 'resume')).to.include({ ok: true, to: 'sending' });
    expect(transition('sending', 'complete')).to.include({ ok: true, to: 'completed' });
    for (const s of BROADCAST_STATES) {
      expect(transition(s, 'cancel').ok, `cancel from ${s}`).to.equal(
        !['completed', 'cancelled'].includes(s),
      );
    }
    expect(transition('completed', 'resume').ok).to.equal(false);
    expect(transition('paused', 'pause').ok).to.equal(false);
    expect(transition('draft', 'pause').ok).to.equal(false);
  });
});
