import { expect } from 'chai';
import {
  buildRef,
  decideAttribution,
  DEFAULT_ATTRIBUTION_POLICY,
  fanCodeFrom,
  isDormant,
  isValidRef,
  leaderName,
  mmeLink,
  parseRef,
  rankLeaders,
  REF_CHARSET,
  REF_MAX_CHARS,
  rewardValue,
  type AttributionFacts,
} from '../../src/domain/referral.js';

const DAY = 24 * 60 * 60 * 1000;
const now = new Date('2026-05-01T10:00:00Z');

function facts(over: Partial<AttributionFacts> = {}): AttributionFacts {
  return {
    now,
    inviteePsid: 'B',
    referrerPsid: 'A',
    campaignKnown: true,
    current: null,
    referrerChain: [],
    referrerRecentCount: 0,
    referrerJudgedInvitees: 0,
    referrerDormantInvitees: 0,
    ...over,
  };
}

describe('referrals: pure domain', () => {
  describe('codes, refs and links', () => {
    it('fan codes are 8 unambiguous characters, uniform over the bytes', () => {
      const code = fanCodeFrom(new Uint8Array([0, 1, 2, 3, 31, 32, 255, 100]));
      expect(code).to.match(/^[a-z2-9]{8}$/);
      expect(code).to.not.match(/[01lo]/);
      expect(() => fanCodeFrom(new Uint8Array(4))).to.throw();
      const seen = new Set<string>();
      for (let i = 0; i < 256; i++) seen.add(fanCodeFrom(new Uint8Array(8).fill(i)));
      expect(seen.size).to.equal(32);
    });

    it('builds and parses general and campaign refs within Meta’s charset and length', () => {
      const general = buildRef('abcd2345');
      const campaign = buildRef('abcd2345', 'JEANS_25-b');
      expect(general).to.equal('r_abcd2345');
      expect(campaign).to.equal('r_abcd2345_JEANS_25-b');
      for (const ref of [general, campaign]) {
        expect(ref).to.match(REF_CHARSET);
        expect(ref.length).to.be.at.most(REF_MAX_CHARS);
      }
      expect(parseRef(general)).to.deep.equal({ fanCode: 'abcd2345', campaignCode: undefined });
      expect(parseRef(campaign)).to.deep.equal({ fanCode: 'abcd2345', campaignCode: 'JEANS_25-b' });
      // The longest campaign code still makes a short ref.
      expect(buildRef('abcd2345', 'X'.repeat(40)).length).to.equal(51);
    });

    it('refuses what Meta would not accept and what is not ours', () => {
      expect(() => buildRef('ABC')).to.throw();
      expect(() => buildRef('abcd2345', 'has space')).to.throw();
      expect(() => buildRef('abcd2345', 'é')).to.throw();
      expect(isValidRef('a'.repeat(REF_MAX_CHARS))).to.equal(true);
      expect(isValidRef('a'.repeat(REF_MAX_CHARS + 1))).to.equal(false);
      expect(isValidRef('a b')).to.equal(false);
      expect(isValidRef('')).to.equal(false);
      for (const ref of ['gb_42', 'r_', 'r_short', 'r_abcd234!', 'r_abcd2345_x', 'x_abcd2345', 'r_ABCD2345'])
        expect(parseRef(ref), ref).to.equal(undefined);
    });

    it('makes m.me links', () => {
      expect(mmeLink('1234567890', 'r_abcd2345')).to.equal('https://m.me/1234567890?ref=r_abcd2345');
      expect(mmeLink('denim.lab', 'r_abcd2345_GB1')).to.equal('https://m.me/denim.lab?ref=r_abcd2345_GB1');
      expect(() => mmeLink('a/b', 'r_abcd2345')).to.throw();
    });
  });

  describe('attribution', () => {
    it('first touch attributes', () => {
      expect(decideAttribution(facts())).to.deep.equal({ decision: 'attributed', reason: 'first_touch' });
    });

    it('a later link inside the window does not steal the fan; the same link again is kept', () => {
      const current = {
        decision: 'attributed' as const,
        referrerPsid: 'A',
        at: new Date(now.getTime() - 29 * DAY),
      };
      expect(decideAttribution(facts({ referrerPsid: 'C', current }))).to.deep.equal({
        decision: 'kept',
        reason: 'within_window',
      });
      expect(decideAttribution(facts({ current }))).to.deep.equal({
        decision: 'kept',
        reason: 'same_referrer',
      });
    });

    it('after the window a new link may attribute (the window is configurable)', () => {
      const current = {
        decision: 'attributed' as const,
        referrerPsid: 'A',
        at: new Date(now.getTime() - 31 * DAY),
      };
      expect(decideAttribution(facts({ referrerPsid: 'C', current }))).to.deep.equal({
        decision: 'attributed',
        reason: 'window_expired',
      });
      const tight = { ...DEFAULT_ATTRIBUTION_POLICY, windowMs: 7 * DAY };
      const recent = { ...current, at: new Date(now.getTime() - 8 * DAY) };
      expect(decideAttribution(facts({ referrerPsid: 'C', current: recent }), tight).decision).to.equal(
        'attributed',
      );
    });

    it('a refused first touch does not block a later valid one', () => {
      const current = { decision: 'refused' as const, referrerPsid: 'B', at: new Date(now.getTime() - DAY) };
      expect(decideAttribution(facts({ current })).reason).to.equal('first_touch');
    });

    it('refuses self-referral, unknown codes and campaigns', () => {
      expect(decideAttribution(facts({ referrerPsid: 'B' }))).to.deep.equal({
        decision: 'refused',
        reason: 'self_referral',
      });
      expect(decideAttribution(facts({ referrerPsid: null })).reason).to.equal('unknown_code');
      expect(decideAttribution(facts({ campaignKnown: false })).reason).to.equal('unknown_campaign');
    });

    it('refuses loops A→B→A and longer ones up the chain', () => {
      // B invited A; now A's link brings B.
      expect(decideAttribution(facts({ referrerChain: ['B'] }))).to.deep.equal({
        decision: 'refused',
        reason: 'loop',
      });
      expect(decideAttribution(facts({ referrerChain: ['X', 'Y', 'B'] })).reason).to.equal('loop');
      expect(decideAttribution(facts({ referrerChain: ['X', 'Y'] })).reason).to.equal('first_touch');
      const shallow = { ...DEFAULT_ATTRIBUTION_POLICY, loopDepth: 2 };
      expect(decideAttribution(facts({ referrerChain: ['X', 'Y', 'B'] }), shallow).reason).to.equal(
        'first_touch',
      );
    });

    it('refuses farming: too many invitees in the period, or mostly dormant invitees', () => {
      const max = DEFAULT_ATTRIBUTION_POLICY.maxPerPeriod;
      expect(decideAttribution(facts({ referrerRecentCount: max - 1 })).decision).to.equal('attributed');
      expect(decideAttribution(facts({ referrerRecentCount: max }))).to.deep.equal({
        decision: 'refused',
        reason: 'farming_rate',
      });
      const d = DEFAULT_ATTRIBUTION_POLICY.maxDormant;
      expect(
        decideAttribution(facts({ referrerDormantInvitees: d, referrerJudgedInvitees: d + 1 })).reason,
      ).to.equal('farming_dormant');
      // Many dormant but most invitees active: a big honest referrer is not punished.
      expect(
        decideAttribution(facts({ referrerDormantInvitees: d, referrerJudgedInvitees: 3 * d })).decision,
      ).to.equal('attributed');
      // Inside the window, fraud checks do not even run: the standing attribution is kept.
      const current = { decision: 'attributed' as const, referrerPsid: 'A', at: now };
      expect(
        decideAttribution(facts({ referrerPsid: 'C', current, referrerRecentCount: 999 })).decision,
      ).to.equal('kept');
    });

    it('dormant: arrived long enough ago and never came back', () => {
      const p = DEFAULT_ATTRIBUTION_POLICY;
      const arrived = new Date(now.getTime() - 2 * DAY);
      expect(isDormant(arrived, arrived, now, p)).to.equal(true);
      expect(isDormant(arrived, null, now, p)).to.equal(true);
      expect(isDormant(arrived, new Date(arrived.getTime() + 3600_000), now, p)).to.equal(false);
      expect(isDormant(new Date(now.getTime() - 3600_000), null, now, p)).to.equal(false);
    });
  });

  describe('rewards and leaders', () => {
    it('values credit, percent (rounded down) and points as integers', () => {
      expect(rewardValue({ kind: 'credit', amount: 500 }, 9999, 'EUR')).to.deep.equal({
        amount: 500,
        unit: 'EUR',
      });
      expect(rewardValue({ kind: 'percent', percent: 10 }, 4999, 'EUR')).to.deep.equal({
        amount: 499,
        unit: 'EUR',
      });
      expect(rewardValue({ kind: 'points', points: 50 }, 4999, 'EUR')).to.deep.equal({
        amount: 50,
        unit: 'points',
      });
    });

    it('shows initials unless the fan opted in to their first name', () => {
      expect(leaderName({ firstName: 'Giulia', lastName: 'Rossi' }, false)).to.equal('G. R.');
      expect(leaderName({ firstName: 'Giulia', lastName: 'Rossi' }, true)).to.equal('Giulia R.');
      expect(leaderName({ firstName: 'élodie' }, false)).to.equal('É.');
      expect(leaderName({}, true)).to.equal(undefined);
    });

    it('ranks by conversions, then invitees', () => {
      const ranked = rankLeaders(
        [
          { referrerPsid: 'a', invitees: 5, conversions: 1 },
          { referrerPsid: 'b', invitees: 2, conversions: 2 },
          { referrerPsid: 'c', invitees: 6, conversions: 1 },
        ],
        2,
      );
      expect(ranked.map((r) => r.referrerPsid)).to.deep.equal(['b', 'c']);
    });
  });
});
