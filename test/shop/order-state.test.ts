import { expect } from 'chai';
import {
  allowedTransitions,
  canTransition,
  FAN_NOTIFIED_STATES,
  isFinal,
  isOrderState,
  ORDER_STATES,
  transition,
  type OrderState,
} from '../../src/domain/order-state.js';

/** The order lifecycle, pair by pair: every one of the 25 (from, to) pairs is checked. */
const ALLOWED: Record<string, { releasesStock: boolean }> = {
  'pending_payment→paid': { releasesStock: false },
  'pending_payment→cancelled': { releasesStock: true },
  'paid→shipped': { releasesStock: false },
  'paid→cancelled': { releasesStock: true },
  'shipped→delivered': { releasesStock: false },
};

describe('order state machine (domain, pure)', () => {
  for (const from of ORDER_STATES) {
    for (const to of ORDER_STATES) {
      const pair = `${from}→${to}`;
      const rule = ALLOWED[pair];
      if (rule) {
        it(`allows ${pair}${rule.releasesStock ? ' (and releases stock)' : ''}, telling the fan`, () => {
          expect(canTransition(from, to)).to.equal(true);
          expect(transition(from, to)).to.deep.equal({
            ok: true,
            from,
            to,
            notifyFan: true,
            releasesStock: rule.releasesStock,
          });
        });
      } else {
        it(`forbids ${pair}`, () => {
          expect(canTransition(from, to)).to.equal(false);
          const r = transition(from, to);
          expect(r.ok).to.equal(false);
          if (r.ok) return;
          expect(r.code).to.equal('forbidden_transition');
          expect(r.allowed).to.deep.equal(allowedTransitions(from));
          expect(r.allowed).to.not.include(to);
        });
      }
    }
  }

  it('has exactly five allowed moves', () => {
    const all = ORDER_STATES.flatMap((f) => allowedTransitions(f).map((t) => `${f}→${t}`));
    expect(all.sort()).to.deep.equal(Object.keys(ALLOWED).sort());
  });

  it('delivered and cancelled are final; the others are not', () => {
    const finals = ORDER_STATES.filter(isFinal);
    expect(finals).to.deep.equal(['delivered', 'cancelled']);
  });

  it('the fan hears about paid, shipped, delivered and cancelled — never about pending_payment', () => {
    expect([...FAN_NOTIFIED_STATES].sort()).to.deep.equal(['cancelled', 'delivered', 'paid', 'shipped']);
  });

  it('recognises its states and nothing else', () => {
    for (const s of ORDER_STATES) expect(isOrderState(s)).to.equal(true);
    for (const s of ['PAID', 'refunded', '', null, 3, undefined]) expect(isOrderState(s)).to.equal(false);
    const typed: OrderState = 'paid';
    expect(isOrderState(typed)).to.equal(true);
  });
});
