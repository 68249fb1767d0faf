import { expect } from 'chai';
import fc from 'fast-check';

import {
  MESSAGING_PURPOSES,
  MESSAGING_WINDOW_MS,
  OPTIN_MESSAGE_INTERVAL_MS,
  checkOptInCap,
  decideMessaging,
  isInsideWindow,
  windowClosesAt,
  type MarketingOptIn,
  type MessagingDecision,
  type MessagingPurpose,
} from '../../../src/domain/messaging-policy.js';

const H = 60 * 60 * 1000;
const now = new Date('2026-03-10T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms);

const windows = {
  inside: ago(1 * H),
  edgeInside: ago(MESSAGING_WINDOW_MS - 1),
  edgeOutside: ago(MESSAGING_WINDOW_MS), // exactly 24 h ago: closed
  outside: ago(3 * 24 * H),
  never: null,
} as const;
type WindowCase = keyof typeof windows;

const validOptIn: MarketingOptIn = { token: 'nm-token-1', lastOptInSendAt: null };

/** Expected decision for a reachable fan, by purpose and window state, without opt-in. */
const expected: Record<MessagingPurpose, { inside: MessagingDecision; outside: MessagingDecision }> = {
  reply: {
    inside: { ok: true, channel: 'standard', messagingType: 'RESPONSE' },
    outside: { ok: false, reason: 'outside_window' },
  },
  order_update: {
    inside: { ok: true, channel: 'standard', messagingType: 'UPDATE' },
    outside: { ok: true, channel: 'standard', messagingType: 'MESSAGE_TAG', tag: 'POST_PURCHASE_UPDATE' },
  },
  groupbuy_update: {
    inside: { ok: true, channel: 'standard', messagingType: 'UPDATE' },
    outside: { ok: true, channel: 'standard', messagingType: 'MESSAGE_TAG', tag: 'POST_PURCHASE_UPDATE' },
  },
  reminder: {
    inside: { ok: true, channel: 'standard', messagingType: 'UPDATE' },
    outside: { ok: false, reason: 'outside_window' },
  },
  promotion: {
    inside: { ok: true, channel: 'standard', messagingType: 'UPDATE' },
    outside: { ok: false, reason: 'promotion_needs_window_or_optin' },
  },
  account_update: {
    inside: { ok: true, channel: 'standard', messagingType: 'UPDATE' },
    outside: { ok: true, channel: 'standard', messagingType: 'MESSAGE_TAG', tag: 'ACCOUNT_UPDATE' },
  },
  feedback_request: {
    inside: { ok: true, channel: 'standard', messagingType: 'UPDATE' },
    outside: { ok: false, reason: 'outside_window' },
  },
};

describe('domain/messaging-policy', () => {
  it('window length is 24 h', () => {
    expect(MESSAGING_WINDOW_MS).to.equal(86_400_000);
    expect(OPTIN_MESSAGE_INTERVAL_MS).to.equal(172_800_000);
  });

  it('isInsideWindow: strictly after now − 24 h', () => {
    expect(isInsideWindow(windows.inside, now)).to.equal(true);
    expect(isInsideWindow(windows.edgeInside, now)).to.equal(true);
    expect(isInsideWindow(windows.edgeOutside, now)).to.equal(false);
    expect(isInsideWindow(windows.outside, now)).to.equal(false);
    expect(isInsideWindow(null, now)).to.equal(false);
    expect(windowClosesAt(windows.inside)?.toISOString()).to.equal('2026-03-11T11:00:00.000Z');
    expect(windowClosesAt(null)).to.equal(null);
  });

  describe('matrix: purpose × window (reachable, no opt-in)', () => {
    for (const purpose of MESSAGING_PURPOSES) {
      for (const w of Object.keys(windows) as WindowCase[]) {
        const inside = w === 'inside' || w === 'edgeInside';
        it(`${purpose} / ${w} → ${JSON.stringify(expected[purpose][inside ? 'inside' : 'outside'])}`, () => {
          const d = decideMessaging({ purpose, lastInteractionAt: windows[w], now, reachable: true });
          expect(d).to.deep.equal(expected[purpose][inside ? 'inside' : 'outside']);
        });
      }
    }
  });

  describe('unreachable fans are always refused', () => {
    for (const purpose of MESSAGING_PURPOSES) {
      for (const w of Object.keys(windows) as WindowCase[]) {
        it(`${purpose} / ${w}`, () => {
          const d = decideMessaging({
            purpose,
            lastInteractionAt: windows[w],
            now,
            reachable: false,
            optIn: validOptIn,
          });
          expect(d).to.deep.equal({ ok: false, reason: 'unreachable' });
        });
      }
    }
  });

  describe('opt-in channel (Marketing Messages)', () => {
    const promo = (optIn: MarketingOptIn | null, last: Date | null = windows.outside) =>
      decideMessaging({ purpose: 'promotion', lastInteractionAt: last, now, reachable: true, optIn });

    it('a promotion outside the window goes through a valid opt-in', () => {
      expect(promo(validOptIn)).to.deep.equal({
        ok: true,
        channel: 'notification_messages',
        token: 'nm-token-1',
      });
      expect(promo(validOptIn, null)).to.deep.equal({
        ok: true,
        channel: 'notification_messages',
        token: 'nm-token-1',
      });
    });

    it('inside the window the free standard channel is preferred', () => {
      expect(promo(validOptIn, windows.inside)).to.deep.equal({
        ok: true,
        channel: 'standard',
        messagingType: 'UPDATE',
      });
    });

    it('48 h cap: refused with retryAt until 48 h after the last opt-in send', () => {
      const last = ago(47 * H);
      expect(promo({ ...validOptIn, lastOptInSendAt: last })).to.deep.equal({
        ok: false,
        reason: 'optin_cap_reached',
        retryAt: new Date(last.getTime() + 48 * H),
      });
      expect(promo({ ...validOptIn, lastOptInSendAt: ago(48 * H) })).to.deep.include({ ok: true });
      expect(promo({ ...validOptIn, lastOptInSendAt: ago(48 * H - 1) })).to.deep.include({
        reason: 'optin_cap_reached',
      });
    });

    it('stopped, expired or empty tokens are refused', () => {
      expect(promo({ ...validOptIn, stopped: true })).to.deep.equal({ ok: false, reason: 'optin_stopped' });
      expect(promo({ ...validOptIn, expiresAt: now })).to.deep.equal({ ok: false, reason: 'optin_expired' });
      expect(promo({ ...validOptIn, expiresAt: new Date(now.getTime() + H) })).to.deep.include({ ok: true });
      expect(promo({ token: '' })).to.deep.equal({ ok: false, reason: 'promotion_needs_window_or_optin' });
      expect(promo(null)).to.deep.equal({ ok: false, reason: 'promotion_needs_window_or_optin' });
    });

    it('the opt-in channel is for promotions only: a reminder outside the window stays refused', () => {
      for (const purpose of ['reminder', 'feedback_request', 'reply'] as const) {
        expect(
          decideMessaging({
            purpose,
            lastInteractionAt: windows.outside,
            now,
            reachable: true,
            optIn: validOptIn,
          }),
        ).to.deep.equal({ ok: false, reason: 'outside_window' });
      }
    });

    it('an opt-in does not change tagged purposes', () => {
      expect(
        decideMessaging({
          purpose: 'groupbuy_update',
          lastInteractionAt: windows.outside,
          now,
          reachable: true,
          optIn: validOptIn,
        }),
      ).to.deep.equal({
        ok: true,
        channel: 'standard',
        messagingType: 'MESSAGE_TAG',
        tag: 'POST_PURCHASE_UPDATE',
      });
    });
  });

  it('a fan who opted out of marketing gets no promotion, even inside the window; updates still go', () => {
    for (const last of [windows.inside, windows.outside]) {
      expect(
        decideMessaging({
          purpose: 'promotion',
          lastInteractionAt: last,
          now,
          reachable: true,
          optIn: validOptIn,
          marketingOptOut: true,
        }),
      ).to.deep.equal({ ok: false, reason: 'marketing_opt_out' });
    }
    expect(
      decideMessaging({
        purpose: 'order_update',
        lastInteractionAt: windows.inside,
        now,
        reachable: true,
        marketingOptOut: true,
      }),
    ).to.deep.equal({ ok: true, channel: 'standard', messagingType: 'UPDATE' });
  });

  it('checkOptInCap', () => {
    expect(checkOptInCap(null, now)).to.deep.equal({ ok: true });
    expect(checkOptInCap(undefined, now)).to.deep.equal({ ok: true });
    expect(checkOptInCap(ago(H), now)).to.deep.equal({
      ok: false,
      retryAt: new Date(now.getTime() + 47 * H),
    });
  });

  describe('properties', () => {
    const arbDate = fc.date({
      min: new Date('2020-01-01'),
      max: new Date('2030-01-01'),
      noInvalidDate: true,
    });
    const arbInput = fc.record({
      purpose: fc.constantFrom(...MESSAGING_PURPOSES),
      lastInteractionAt: fc.option(arbDate, { nil: null }),
      now: arbDate,
      reachable: fc.boolean(),
      marketingOptOut: fc.boolean(),
      optIn: fc.option(
        fc.record({
          token: fc.string(),
          stopped: fc.boolean(),
          expiresAt: fc.option(arbDate, { nil: null }),
          lastOptInSendAt: fc.option(arbDate, { nil: null }),
        }),
        { nil: null },
      ),
    });

    it('no path ever tags a promotion (or a reminder / feedback request)', () => {
      fc.assert(
        fc.property(arbInput, (input) => {
          const d = decideMessaging(input);
          if (['promotion', 'reminder', 'feedback_request', 'reply'].includes(input.purpose)) {
            expect(d).not.to.have.property('tag');
          }
        }),
        { numRuns: 2000 },
      );
    });

    it('outside the window, RESPONSE/UPDATE is never returned; unreachable is never ok', () => {
      fc.assert(
        fc.property(arbInput, (input) => {
          const d = decideMessaging(input);
          if (!input.reachable) expect(d.ok).to.equal(false);
          if (input.marketingOptOut && input.purpose === 'promotion') expect(d.ok).to.equal(false);
          if (d.ok && d.channel === 'standard' && d.messagingType !== 'MESSAGE_TAG') {
            expect(isInsideWindow(input.lastInteractionAt, input.now)).to.equal(true);
          }
          if (d.ok && d.channel === 'notification_messages') {
            expect(input.purpose).to.equal('promotion');
            expect(isInsideWindow(input.lastInteractionAt, input.now)).to.equal(false);
          }
        }),
        { numRuns: 2000 },
      );
    });
  });
});
