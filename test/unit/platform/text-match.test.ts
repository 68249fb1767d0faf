import { expect } from 'chai';
import fc from 'fast-check';
import {
  buildPayload,
  containsPhrase,
  isPhrase,
  normalizeText,
  parsePayload,
} from '../../../src/domain/text-match.js';

describe('text matching', () => {
  it('normalises case, accents, emoji and punctuation', () => {
    expect(normalizeText('  Perché È COSÌ?! 👖 ')).to.equal('perche e cosi');
    expect(normalizeText('Menù')).to.equal('menu');
    expect(normalizeText('👋')).to.equal('');
  });

  it('isPhrase matches the whole message only', () => {
    expect(isPhrase('Ciao!', ['ciao'])).to.equal(true);
    expect(isPhrase('CIÀO 👋', ['ciao'])).to.equal(true);
    expect(isPhrase('menu', ['menù'])).to.equal(true);
    expect(isPhrase('ciao a tutti', ['ciao'])).to.equal(false);
    expect(isPhrase('', ['ciao'])).to.equal(false);
  });

  it("containsPhrase matches whole words only: 'hi' does not match 'this'", () => {
    expect(containsPhrase('this is it', ['hi'])).to.equal(false);
    expect(containsPhrase('oh hi there', ['hi'])).to.equal(true);
    expect(containsPhrase('Hi!', ['hi'])).to.equal(true);
    expect(
      containsPhrase('voglio parlare con una PERSONA, grazie', ['parla con una persona', 'persona']),
    ).to.equal(true);
    expect(containsPhrase('aiutami', ['aiuto'])).to.equal(false);
    // An empty or emoji-only phrase matches nothing (it would otherwise match everything).
    expect(containsPhrase('anything', ['', '👋'])).to.equal(false);
  });

  it('a word never matches inside a longer word (property)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z]{2,6}$/),
        fc.stringMatching(/^[a-z]{1,4}$/),
        fc.stringMatching(/^[a-z]{1,4}$/),
        (word, before, after) => {
          expect(containsPhrase(`${before}${word}${after}`, [word])).to.equal(false);
          expect(containsPhrase(`${before} ${word}, ${after}`, [word])).to.equal(true);
        },
      ),
    );
  });

  it('payloads round-trip and malformed ones are refused', () => {
    expect(buildPayload('gb.join', ['c1', 'x'])).to.equal('gb.join:v1:c1:x');
    expect(parsePayload('gb.join:v2:c1:x')).to.deep.equal({ name: 'gb.join', version: 2, args: ['c1', 'x'] });
    expect(parsePayload('menu')).to.equal(undefined);
    expect(parsePayload('menu:1')).to.equal(undefined);
    expect(parsePayload(':v1')).to.equal(undefined);
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z.]{1,10}$/),
        fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{0,8}$/), { maxLength: 4 }),
        fc.integer({ min: 1, max: 99 }),
        (name, args, version) => {
          expect(parsePayload(buildPayload(name, args, version))).to.deep.equal({ name, version, args });
        },
      ),
    );
  });
});
