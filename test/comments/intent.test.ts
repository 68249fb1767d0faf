import { expect } from 'chai';
import {
  DEFAULT_KEYWORDS,
  detectIntent,
  detectLocale,
  findLinkCodes,
  findQuantity,
  findVariant,
  pickIndex,
  type CommentIntent,
} from '../../src/domain/comment-intent.js';

const type = (text: string, opts?: Parameters<typeof detectIntent>[1]) => detectIntent(text, opts).type;

describe('comment intent (pure)', () => {
  describe('joins', () => {
    const joins = [
      'voglio',
      'Voglio!!',
      'VOGLIO 😍😍',
      'lo voglio',
      'La voglio assolutamente!',
      'ne voglio 2 taglia M',
      'Ne vorrei uno',
      'ci sto',
      'Ci sto anche io 🙋‍♀️',
      'io!',
      'Io',
      'io io io',
      'anch’io',
      "anch'io!",
      'Anche io!!! 🥰',
      'pure io',
      'partecipo',
      'Partecipo anche io',
      'ci sono',
      'prenoto una M',
      'ne prendo 2',
      'Lo prendo in L',
      'mi unisco',
      'aggiungimi',
      'interessata',
      'mi interessa, taglia S',
      'JOIN',
      'join 2 M',
      'JOIN 2 M',
      'count me in',
      'Count me in!!',
      "I'm in",
      'Im in',
      "I'M IN 🙌",
      'i am in',
      'in',
      'me',
      'Me!',
      'me too',
      'Me too 😍',
      'I want one',
      "I'll take it",
      'sign me up',
      'interested',
      'yes please',
      '🙋‍♀️',
      '🙋',
      '✋',
      '2 M',
      'Voglio la XL',
      'Però che bello, lo voglio',
      'Quanto costa? Ne voglio 2',
      'ne prenderei 2',
      'Dai, ne prendo 3 🙈',
    ];
    for (const text of joins) {
      it(`"${text}" is a join`, () => expect(type(text)).to.equal('join'));
    }
  });

  describe('not joins (negations, chatter, words inside words)', () => {
    const negatives: [string, CommentIntent['type']][] = [
      ['non voglio', 'none'],
      ['Non lo voglio', 'none'],
      ['io no', 'none'],
      ['Io no grazie', 'none'],
      ['Non ci sto', 'none'],
      ['not for me', 'none'],
      ["I'm not in", 'none'],
      ["I don't want it", 'none'],
      ['never', 'none'],
      ['Bellissimo 😍', 'none'],
      ['Che bello!', 'none'],
      ['@Giulia guarda questo', 'none'],
      ['Ciao, quando arriva?', 'none'],
      ['informatica', 'none'],
      ['ritiro in negozio?', 'none'],
      ['sei bravissima', 'none'],
      ['io e mia sorella lo abbiamo già comprato e ci piace tanto', 'none'],
      ['me lo ha regalato mia mamma anni fa', 'none'],
      ['inside', 'none'],
      ['', 'none'],
      ['😂😂😂', 'none'],
      ['#DL-GB1', 'none'],
    ];
    for (const [text, expected] of negatives) {
      it(`"${text}" is ${expected}`, () => expect(type(text)).to.equal(expected));
    }
  });

  describe('questions', () => {
    const questions = [
      'quanto costa',
      'Quanto costa?',
      'QUANTO COSTANO?',
      'quanto viene?',
      'prezzo',
      'Prezzo?',
      'prezzo please',
      'info',
      'Info?',
      'INFO 🙏',
      'più info',
      'informazioni',
      'Dettagli?',
      'che taglie avete?',
      'scrivimi in privato',
      'how much',
      'How much?',
      'how much is it?',
      'price',
      'Price??',
      'pricing?',
      'more info please',
      'details',
      'what sizes?',
      'dm me',
      'PM',
    ];
    for (const text of questions) {
      it(`"${text}" is a question`, () => expect(type(text)).to.equal('info'));
    }
  });

  describe('stops', () => {
    for (const text of [
      'stop',
      'STOP',
      'Stop!',
      'non più',
      'Non piu',
      'non lo voglio più',
      'ci ho ripensato',
      'annulla',
      'cancel',
      'count me out',
      "I'm out",
      'changed my mind',
      'no longer',
    ]) {
      it(`"${text}" is a stop`, () => expect(type(text)).to.equal('stop'));
    }
  });

  describe('quantity and variant', () => {
    const cases: [string, number | undefined, string | undefined][] = [
      ['JOIN 2 M', 2, 'M'],
      ['ne voglio 2 taglia M', 2, 'M'],
      ['ne voglio due taglia m', 2, 'M'],
      ['voglio 3 pezzi in XL', 3, 'XL'],
      ['io x2 L', 2, 'L'],
      ['2x S 🙋‍♀️', 2, 'S'],
      ['Ne prendo tre', 3, undefined],
      ['ne voglio un paio, taglia 42', 2, '42'],
      ['taglia 42, ne voglio uno', undefined, '42'],
      ['I want size xl please, 2 of them', 2, 'XL'],
      ["I'm in", undefined, undefined],
      ["I'M IN", undefined, undefined],
      ['voglio 2️⃣ M', 2, 'M'],
      ['#GB2 voglio', undefined, undefined],
      ['voglio 150', undefined, undefined],
    ];
    for (const [text, q, v] of cases) {
      it(`"${text}" → quantity ${q}, variant ${v}`, () => {
        const intent = detectIntent(text);
        expect(intent.type).to.equal('join');
        if (intent.type !== 'join') return;
        expect(intent.quantity).to.equal(q);
        expect(intent.variant).to.equal(v);
      });
    }

    it('a colour or size of the product written as a word is the variant', () => {
      expect(findVariant('lo voglio nero', ['Nero', 'Blu'])).to.equal('Nero');
      expect(findVariant('lo voglio blu scuro', ['Blu scuro', 'Nero'])).to.equal('Blu scuro');
      expect(findVariant('voglio la taglia unica', ['Unica'])).to.equal('Unica');
    });

    it('quantities stay in 1–99; a size number is not a quantity', () => {
      expect(findQuantity('ne voglio 0')).to.equal(undefined);
      expect(findQuantity('taglia 44')).to.equal(undefined);
      expect(findQuantity('ne voglio 12')).to.equal(12);
    });
  });

  describe('configurable keywords', () => {
    it('a campaign adds its own words per language on top of the defaults', () => {
      expect(type('prenotami il jeans')).to.equal('none');
      expect(type('prenotami il jeans', { keywords: { it: { join: ['prenotami'] } } })).to.equal('join');
      expect(type('gimme', { keywords: { en: { join: ['gimme'] } } })).to.equal('join');
      expect(type('costo spedizione', { keywords: { it: { info: ['spedizione'] } } })).to.equal('info');
      expect(type('basta così', { keywords: { it: { stop: ['basta'] } } })).to.equal('stop');
      // The defaults still work alongside.
      expect(type('voglio', { keywords: { it: { join: ['prenotami'] } } })).to.equal('join');
    });

    it('the default lists exist in both languages', () => {
      for (const l of ['it', 'en'] as const) {
        expect(DEFAULT_KEYWORDS[l].join.length).to.be.greaterThan(10);
        expect(DEFAULT_KEYWORDS[l].info.length).to.be.greaterThan(5);
        expect(DEFAULT_KEYWORDS[l].stop.length).to.be.greaterThan(3);
      }
    });
  });

  describe('locale of a comment', () => {
    it('tells Italian from English by its words, else says nothing', () => {
      expect(detectLocale('ne voglio 2 taglia M')).to.equal('it');
      expect(detectLocale('Quanto costa?')).to.equal('it');
      expect(detectLocale('count me in')).to.equal('en');
      expect(detectLocale('how much is it?')).to.equal('en');
      expect(detectLocale('🙋‍♀️')).to.equal(undefined);
      expect(detectLocale('info')).to.equal(undefined);
    });
  });

  describe('codes and wording', () => {
    it('finds hashtags and known codes in a post', () => {
      expect(findLinkCodes('Jeans insieme! #DL-GB1 #estate')).to.deep.equal(['DL-GB1', 'ESTATE']);
      expect(findLinkCodes('Codice JEANS25 in bio', ['jeans25'])).to.deep.equal(['JEANS25']);
      expect(findLinkCodes('niente')).to.deep.equal([]);
    });

    it('picks a wording deterministically and spreads neighbours', () => {
      expect(pickIndex('123_456', 4)).to.equal(pickIndex('123_456', 4));
      const seen = new Set(Array.from({ length: 40 }, (_, i) => pickIndex(`123_${1000 + i}`, 4)));
      expect(seen.size).to.equal(4);
      expect(pickIndex('x', 1)).to.equal(0);
    });
  });
});
