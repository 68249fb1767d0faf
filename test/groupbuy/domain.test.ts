import { expect } from 'chai';
import fc from 'fast-check';
import {
  CAMPAIGN_STATES,
  CAMPAIGN_TRANSITIONS,
  canTransition,
  forecastTipping,
  nextTier,
  priceFor,
  progress,
  tierIndexFor,
  timeLeft,
  transition,
  validateSettings,
  validateTiers,
  type CampaignEvent,
  type CampaignState,
  type Tier,
} from '../../src/domain/groupbuy.js';

const H = 60 * 60 * 1000;
const D = 24 * H;
const now = new Date('2026-05-01T12:00:00Z');
const at = (ms: number) => new Date(now.getTime() + ms);

const tiers: Tier[] = [
  { fromQuantity: 0, unitPrice: 4990 },
  { fromQuantity: 25, unitPrice: 3990 },
  { fromQuantity: 50, unitPrice: 3490 },
];

describe('group buy domain: price tiers', () => {
  it('the price for a quantity is the tier with the largest fromQuantity at or below it', () => {
    expect(priceFor(tiers, 0)).to.equal(4990);
    expect(priceFor(tiers, 24)).to.equal(4990);
    expect(priceFor(tiers, 25)).to.equal(3990);
    expect(priceFor(tiers, 49)).to.equal(3990);
    expect(priceFor(tiers, 50)).to.equal(3490);
    expect(priceFor(tiers, 5000)).to.equal(3490);
    expect(tierIndexFor(tiers, 30)).to.equal(1);
  });

  it('the first tier is the starting price even when it starts above zero', () => {
    const t: Tier[] = [
      { fromQuantity: 1, unitPrice: 1000 },
      { fromQuantity: 10, unitPrice: 900 },
    ];
    expect(priceFor(t, 0)).to.equal(1000);
  });

  it('next tier and how many more units reach it; none at the last tier', () => {
    expect(nextTier(tiers, 18)).to.deep.equal({ tier: tiers[1], more: 7 });
    expect(nextTier(tiers, 25)).to.deep.equal({ tier: tiers[2], more: 25 });
    expect(nextTier(tiers, 50)).to.equal(undefined);
  });

  it('validation: sorted, strictly decreasing integer-cent prices, reachable under the cap', () => {
    expect(validateTiers(tiers)).to.deep.equal({ ok: true });
    expect(validateTiers([])).to.deep.include({ ok: false, code: 'no_tiers' });
    expect(validateTiers([tiers[1]!, tiers[0]!])).to.deep.include({
      ok: false,
      code: 'not_sorted',
      index: 1,
    });
    expect(
      validateTiers([
        { fromQuantity: 0, unitPrice: 1000 },
        { fromQuantity: 0, unitPrice: 900 },
      ]),
    ).to.deep.include({ ok: false, code: 'not_sorted' });
    expect(
      validateTiers([
        { fromQuantity: 0, unitPrice: 1000 },
        { fromQuantity: 5, unitPrice: 1000 },
      ]),
    ).to.deep.include({ ok: false, code: 'price_not_decreasing', index: 1 });
    expect(validateTiers([{ fromQuantity: 0, unitPrice: 49.9 }])).to.deep.include({
      ok: false,
      code: 'price_not_integer',
    });
    expect(validateTiers([{ fromQuantity: 0, unitPrice: 0 }])).to.deep.include({ code: 'price_not_integer' });
    expect(validateTiers([{ fromQuantity: 1.5, unitPrice: 100 }])).to.deep.include({
      code: 'quantity_not_integer',
    });
    expect(validateTiers([{ fromQuantity: -1, unitPrice: 100 }])).to.deep.include({
      code: 'quantity_not_integer',
    });
    expect(validateTiers(tiers, { maxQuantity: 40 })).to.deep.include({ code: 'tier_unreachable', index: 2 });
    expect(validateTiers(tiers, { maxQuantity: 50 })).to.deep.equal({ ok: true });
    const many = Array.from({ length: 11 }, (_, i) => ({ fromQuantity: i, unitPrice: 100 - i }));
    expect(validateTiers(many)).to.deep.include({ code: 'too_many_tiers' });
  });

  it('property: for valid tiers the price never rises as more join', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 0, max: 600 }),
        (qs, a, b) => {
          const sorted = [...qs].sort((x, y) => x - y);
          const t = sorted.map((q, i) => ({ fromQuantity: q, unitPrice: 10_000 - i * 100 }));
          expect(validateTiers(t).ok).to.equal(true);
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(priceFor(t, hi)).to.be.at.most(priceFor(t, lo));
          const n = nextTier(t, lo);
          if (n) expect(priceFor(t, lo + n.more)).to.be.below(priceFor(t, lo));
        },
      ),
    );
  });
});

describe('group buy domain: the lifecycle table', () => {
  const allowed: [CampaignState, CampaignState][] = [
    ['draft', 'open'],
    ['open', 'tipped'],
    ['tipped', 'closed'],
    ['closed', 'fulfilled'],
    ['open', 'failed'],
    ['open', 'cancelled'],
    ['tipped', 'cancelled'],
  ];
  const isAllowed = (a: CampaignState, b: CampaignState) => allowed.some(([x, y]) => x === a && y === b);

  for (const from of CAMPAIGN_STATES) {
    for (const to of CAMPAIGN_STATES) {
      const expected = isAllowed(from, to);
      it(`${from} → ${to}: ${expected ? 'allowed' : 'forbidden'}`, () => {
        expect(canTransition(from, to)).to.equal(expected);
      });
    }
  }

  it('transition(state, event) gives the new state, or a typed refusal naming the allowed starts', () => {
    const events = Object.keys(CAMPAIGN_TRANSITIONS) as CampaignEvent[];
    for (const from of CAMPAIGN_STATES) {
      for (const event of events) {
        const r = transition(from, event);
        const rule = CAMPAIGN_TRANSITIONS[event];
        if (rule.from.includes(from)) expect(r).to.deep.equal({ ok: true, from, to: rule.to, event });
        else
          expect(r).to.deep.equal({
            ok: false,
            code: 'forbidden_transition',
            from,
            event,
            allowedFrom: rule.from,
          });
      }
    }
    expect(transition('open', 'tip')).to.deep.include({ ok: true, to: 'tipped' });
    expect(transition('tipped', 'fail')).to.deep.include({ ok: false });
    expect(transition('draft', 'cancel')).to.deep.include({ ok: false });
    expect(transition('cancelled', 'open')).to.deep.include({ ok: false });
  });
});

describe('group buy domain: deadlines with an injected clock', () => {
  it('whole days, then hours, then minutes, rounded down; expired at and after the deadline', () => {
    expect(timeLeft(at(2 * D + 20 * H), now)).to.deep.include({ expired: false, unit: 'days', count: 2 });
    expect(timeLeft(at(D), now)).to.deep.include({ unit: 'days', count: 1 });
    expect(timeLeft(at(D - 1), now)).to.deep.include({ unit: 'hours', count: 23 });
    expect(timeLeft(at(3 * H + 59 * 60_000), now)).to.deep.include({ unit: 'hours', count: 3 });
    expect(timeLeft(at(H - 1), now)).to.deep.include({ unit: 'minutes', count: 59 });
    expect(timeLeft(at(10_000), now)).to.deep.include({ unit: 'minutes', count: 1 });
    expect(timeLeft(at(0), now)).to.deep.equal({ expired: true, ms: 0, unit: 'minutes', count: 0 });
    expect(timeLeft(at(-D), now).expired).to.equal(true);
  });
});

describe('group buy domain: pace forecast', () => {
  const base = { minQuantity: 100, openedAt: at(-10 * H), deadline: at(10 * H), now };

  it('on pace: 60 units in 10 h, 10 h left → 120 projected → likely', () => {
    const f = forecastTipping({ ...base, committed: 60 });
    expect(f.verdict).to.equal('likely');
    expect(f.perHour).to.equal(6);
    expect(f.projected).to.equal(120);
    expect(f.needed).to.equal(40);
    expect(f.neededPerHour).to.equal(4);
  });

  it('behind pace: 30 units in 10 h → 60 projected → unlikely', () => {
    expect(forecastTipping({ ...base, committed: 30 })).to.deep.include({
      verdict: 'unlikely',
      projected: 60,
    });
  });

  it('tipped, ended, and too early to tell (under an hour of data)', () => {
    expect(forecastTipping({ ...base, committed: 100 }).verdict).to.equal('tipped');
    expect(forecastTipping({ ...base, committed: 10, deadline: at(-1) }).verdict).to.equal('ended');
    expect(forecastTipping({ ...base, committed: 10, openedAt: at(-30 * 60_000) }).verdict).to.equal(
      'too_early',
    );
  });
});

describe('group buy domain: progress data for a card', () => {
  it('"18/25 · 7 to go · 2 days" as data, with the current and the next tier', () => {
    const p = progress({
      state: 'open',
      committed: 18,
      minQuantity: 25,
      maxQuantity: null,
      deadline: at(2 * D + H),
      tiers,
      now,
    });
    expect(p).to.deep.include({
      committed: 18,
      target: 25,
      toTip: 7,
      tipped: false,
      seatsLeft: null,
      full: false,
    });
    expect(p.percent).to.equal(72);
    expect(p.timeLeft).to.deep.include({ unit: 'days', count: 2 });
    expect(p.unitPrice).to.equal(4990);
    expect(p.next).to.deep.equal({ tier: tiers[1], more: 7 });
  });

  it('capped: seats left, full, and no next tier beyond the cap', () => {
    const p = progress({
      state: 'tipped',
      committed: 40,
      minQuantity: 25,
      maxQuantity: 40,
      deadline: at(H),
      tiers,
      now,
    });
    expect(p).to.deep.include({ tipped: true, toTip: 0, seatsLeft: 0, full: true, percent: 100 });
    expect(p.next).to.equal(undefined);
  });
});

describe('group buy domain: settings', () => {
  const ok = { minQuantity: 10, maxQuantity: 50, perFanLimit: 3, deadline: at(D), tiers };
  it('accepts sensible settings and names the first problem otherwise', () => {
    expect(validateSettings(ok, now)).to.deep.equal({ ok: true });
    expect(validateSettings({ ...ok, minQuantity: 0 }, now)).to.deep.include({
      code: 'min_quantity_invalid',
    });
    expect(validateSettings({ ...ok, maxQuantity: 5 }, now)).to.deep.include({ code: 'max_below_min' });
    expect(validateSettings({ ...ok, perFanLimit: 0 }, now)).to.deep.include({
      code: 'per_fan_limit_invalid',
    });
    expect(validateSettings({ ...ok, deadline: at(-1) }, now)).to.deep.include({ code: 'deadline_in_past' });
    expect(validateSettings({ ...ok, maxQuantity: 30 }, now)).to.deep.include({ code: 'tier_unreachable' });
  });
});
