import { expect } from 'chai';
import {
  add,
  formatMoney,
  money,
  MoneyError,
  multiply,
  parseAmount,
  subtract,
  sum,
  toDecimalString,
} from '../../src/domain/money.js';

describe('shop: money (integer minor units + ISO currency)', () => {
  it('formats per locale: it → "49,90 €" (no-break space), en → "€49.90"', () => {
    expect(formatMoney(money(4990, 'EUR'), 'it')).to.equal('49,90\u00a0€');
    expect(formatMoney(money(4990, 'EUR'), 'en')).to.equal('€49.90');
    expect(formatMoney(money(5, 'EUR'), 'it')).to.equal('0,05\u00a0€');
    expect(formatMoney(money(123456789, 'EUR'), 'it')).to.equal('1.234.567,89\u00a0€');
    expect(formatMoney(money(123456789, 'EUR'), 'en')).to.equal('€1,234,567.89');
    expect(formatMoney(money(0, 'EUR'), 'en')).to.equal('€0.00');
  });

  it('converts to an exact decimal string without floats', () => {
    expect(toDecimalString(money(4990, 'EUR'))).to.equal('49.90');
    expect(toDecimalString(money(7, 'EUR'))).to.equal('0.07');
    expect(toDecimalString(money(-250, 'EUR'))).to.equal('-2.50');
    expect(toDecimalString(money(500, 'JPY'))).to.equal('500');
    // 0.1 + 0.2 style errors cannot happen: 10 + 20 cents is 30 cents.
    expect(add(money(10, 'EUR'), money(20, 'EUR')).amount).to.equal(30);
  });

  it('adds, subtracts, multiplies by integer quantities and sums', () => {
    expect(add(money(4990, 'EUR'), money(1990, 'EUR'))).to.deep.equal({ amount: 6980, currency: 'EUR' });
    expect(subtract(money(4990, 'EUR'), money(990, 'EUR')).amount).to.equal(4000);
    expect(multiply(money(4990, 'EUR'), 3).amount).to.equal(14970);
    expect(sum([money(1, 'EUR'), money(2, 'EUR'), money(3, 'EUR')], 'EUR').amount).to.equal(6);
    expect(sum([], 'EUR')).to.deep.equal({ amount: 0, currency: 'EUR' });
  });

  it('refuses floats, mixed currencies, overflow and bad codes', () => {
    expect(() => money(49.9, 'EUR')).to.throw(MoneyError);
    expect(() => money(100, 'eur')).to.throw(MoneyError);
    expect(() => add(money(1, 'EUR'), money(1, 'USD'))).to.throw(MoneyError, /EUR and USD/);
    expect(() => multiply(money(100, 'EUR'), 1.5)).to.throw(MoneyError);
    expect(() => multiply(money(Number.MAX_SAFE_INTEGER, 'EUR'), 2)).to.throw(MoneyError);
  });

  it('parses prices as people write them, as strings', () => {
    expect(parseAmount('49.90', 'EUR')).to.equal(4990);
    expect(parseAmount('49,90', 'EUR')).to.equal(4990);
    expect(parseAmount('49,9', 'EUR')).to.equal(4990);
    expect(parseAmount(' 49 ', 'EUR')).to.equal(4900);
    expect(parseAmount('0.10', 'EUR')).to.equal(10);
    expect(parseAmount('1.234,56', 'EUR')).to.equal(123456);
    expect(parseAmount('1,234.56', 'EUR')).to.equal(123456);
    expect(parseAmount('1234', 'JPY')).to.equal(1234);
    for (const bad of ['', 'abc', '-1', '1e3', '49.999', '1,234', '49.', '4 9,90x', '1.234.5']) {
      expect(parseAmount(bad, 'EUR'), bad).to.equal(undefined);
    }
  });
});
