import { expect } from 'chai';

import {
  LIMITS,
  MessageLimitError,
  buttonTemplate,
  carousel,
  charCount,
  image,
  phoneButton,
  postback,
  quickReplies,
  text,
  truncate,
  urlButton,
  withQuickReplies,
  type CarouselElementInput,
} from '../../../src/messenger/builders.js';

function limitOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(MessageLimitError);
    return (e as MessageLimitError).limit;
  }
  expect.fail('expected a MessageLimitError');
}

const rep = (s: string, n: number): string => s.repeat(n);

describe('messenger/builders', () => {
  describe('text', () => {
    it('builds a Send API message object', () => {
      expect(text('Ciao!')).to.deep.equal({ text: 'Ciao!' });
    });

    it('accepts 1999 characters and refuses 2000 (limit is "< 2000")', () => {
      expect(text(rep('a', 1999)).text).to.have.length(1999);
      expect(limitOf(() => text(rep('a', 2000)))).to.equal('textMaxChars');
    });

    it('counts code points, not UTF-16 units: 1999 emoji are fine', () => {
      const s = rep('😀', 1999); // 3998 UTF-16 units
      expect(s.length).to.equal(3998);
      expect(text(s).text).to.equal(s);
      expect(limitOf(() => text(rep('😀', 2000)))).to.equal('textMaxChars');
    });

    it('refuses empty text', () => {
      expect(limitOf(() => text(''))).to.equal('required');
    });

    it('error names limit, path, actual and max', () => {
      try {
        text(rep('x', 2001));
        expect.fail('should throw');
      } catch (e) {
        const err = e as MessageLimitError;
        expect(err.limit).to.equal('textMaxChars');
        expect(err.path).to.equal('text');
        expect(err.actual).to.equal(2001);
        expect(err.max).to.equal(1999);
        expect(err.message).to.contain('textMaxChars');
      }
    });
  });

  describe('quickReplies', () => {
    const qr = (i: number) => ({ title: `t${i}`, payload: `p${i}` });

    it('builds text + quick replies', () => {
      expect(quickReplies('Scegli', [qr(1), qr(2)])).to.deep.equal({
        text: 'Scegli',
        quick_replies: [
          { content_type: 'text', title: 't1', payload: 'p1' },
          { content_type: 'text', title: 't2', payload: 'p2' },
        ],
      });
    });

    it('allows 13 and refuses 14', () => {
      expect(
        quickReplies(
          'x',
          Array.from({ length: 13 }, (_, i) => qr(i)),
        ).quick_replies,
      ).to.have.length(13);
      expect(
        limitOf(() =>
          quickReplies(
            'x',
            Array.from({ length: 14 }, (_, i) => qr(i)),
          ),
        ),
      ).to.equal('quickRepliesMax');
    });

    it('title ≤ 20 and payload ≤ 1000', () => {
      expect(
        quickReplies('x', [{ title: rep('a', 20), payload: rep('p', 1000) }]).quick_replies,
      ).to.have.length(1);
      expect(limitOf(() => quickReplies('x', [{ title: rep('a', 21), payload: 'p' }]))).to.equal(
        'quickReplyTitleMaxChars',
      );
      expect(limitOf(() => quickReplies('x', [{ title: 'a', payload: rep('p', 1001) }]))).to.equal(
        'quickReplyPayloadMaxChars',
      );
    });

    it('title counted in code points', () => {
      expect(quickReplies('x', [{ title: rep('🛒', 20), payload: 'p' }]).quick_replies![0]!.title).to.equal(
        rep('🛒', 20),
      );
    });

    it('the text itself is limited too', () => {
      expect(limitOf(() => quickReplies(rep('a', 2000), [qr(1)]))).to.equal('textMaxChars');
    });

    it('withQuickReplies adds them to a template', () => {
      const m = withQuickReplies(buttonTemplate('hi', [postback('A', 'a')]), [qr(1)]);
      expect(m.quick_replies).to.deep.equal([{ content_type: 'text', title: 't1', payload: 'p1' }]);
      expect(m.attachment.type).to.equal('template');
    });
  });

  describe('buttons', () => {
    it('postback: title ≤ 20, payload ≤ 1000', () => {
      expect(postback('Unisciti', 'gb.join:v1:42')).to.deep.equal({
        type: 'postback',
        title: 'Unisciti',
        payload: 'gb.join:v1:42',
      });
      expect(limitOf(() => postback(rep('a', 21), 'p'))).to.equal('buttonTitleMaxChars');
      expect(limitOf(() => postback('a', rep('p', 1001)))).to.equal('buttonPayloadMaxChars');
      expect(limitOf(() => postback('a', ''))).to.equal('required');
    });

    it('urlButton: title ≤ 20, http(s) url', () => {
      expect(urlButton('Apri', 'https://shop.example/p/1')).to.deep.equal({
        type: 'web_url',
        title: 'Apri',
        url: 'https://shop.example/p/1',
      });
      expect(limitOf(() => urlButton(rep('a', 21), 'https://x.example'))).to.equal('buttonTitleMaxChars');
      expect(limitOf(() => urlButton('a', 'javascript:alert(1)'))).to.equal('url');
      expect(limitOf(() => urlButton('a', 'not a url'))).to.equal('url');
    });

    it('phoneButton needs +international', () => {
      expect(phoneButton('Chiama', '+390212345678').payload).to.equal('+390212345678');
      expect(limitOf(() => phoneButton('Chiama', '0212345678'))).to.equal('required');
    });
  });

  describe('carousel (generic template)', () => {
    const el = (i: number): CarouselElementInput => ({
      title: `Item ${i}`,
      subtitle: 'sub',
      imageUrl: `https://img.example/${i}.jpg`,
      defaultActionUrl: `https://shop.example/${i}`,
      buttons: [postback('Join', `gb.join:v1:${i}`)],
    });

    it('builds the generic template payload', () => {
      expect(carousel([el(1)])).to.deep.equal({
        attachment: {
          type: 'template',
          payload: {
            template_type: 'generic',
            elements: [
              {
                title: 'Item 1',
                subtitle: 'sub',
                image_url: 'https://img.example/1.jpg',
                default_action: { type: 'web_url', url: 'https://shop.example/1' },
                buttons: [{ type: 'postback', title: 'Join', payload: 'gb.join:v1:1' }],
              },
            ],
          },
        },
      });
    });

    it('allows 10 elements, refuses 11 and 0', () => {
      expect(carousel(Array.from({ length: 10 }, (_, i) => el(i))).attachment.payload).to.have.property(
        'elements',
      );
      expect(limitOf(() => carousel(Array.from({ length: 11 }, (_, i) => el(i))))).to.equal(
        'genericElementsMax',
      );
      expect(limitOf(() => carousel([]))).to.equal('required');
    });

    it('title ≤ 80, subtitle ≤ 80', () => {
      expect(limitOf(() => carousel([{ title: rep('t', 81) }]))).to.equal('genericTitleMaxChars');
      expect(limitOf(() => carousel([{ title: 't', subtitle: rep('s', 81) }]))).to.equal(
        'genericSubtitleMaxChars',
      );
      expect(() => carousel([{ title: rep('t', 80), subtitle: rep('s', 80) }])).not.to.throw();
    });

    it('≤ 3 buttons per element, each checked', () => {
      const b = postback('x', 'y');
      expect(() => carousel([{ title: 't', buttons: [b, b, b] }])).not.to.throw();
      expect(limitOf(() => carousel([{ title: 't', buttons: [b, b, b, b] }]))).to.equal('genericButtonsMax');
      const bad = { type: 'postback' as const, title: rep('x', 21), payload: 'y' };
      expect(limitOf(() => carousel([{ title: 't', buttons: [bad] }]))).to.equal('buttonTitleMaxChars');
    });

    it('image_url and default_action must be URLs', () => {
      expect(limitOf(() => carousel([{ title: 't', imageUrl: 'nope' }]))).to.equal('url');
      expect(limitOf(() => carousel([{ title: 't', defaultActionUrl: 'nope' }]))).to.equal('url');
    });

    it('reports the element path', () => {
      try {
        carousel([el(0), { title: rep('t', 81) }]);
        expect.fail('should throw');
      } catch (e) {
        expect((e as MessageLimitError).path).to.equal('elements[1].title');
      }
    });
  });

  describe('buttonTemplate', () => {
    const b = postback('OK', 'ok');
    it('builds the button template', () => {
      expect(buttonTemplate('Vuoi unirti?', [b])).to.deep.equal({
        attachment: {
          type: 'template',
          payload: { template_type: 'button', text: 'Vuoi unirti?', buttons: [b] },
        },
      });
    });
    it('text ≤ 640', () => {
      expect(() => buttonTemplate(rep('a', 640), [b])).not.to.throw();
      expect(limitOf(() => buttonTemplate(rep('a', 641), [b]))).to.equal('buttonTemplateTextMaxChars');
    });
    it('1–3 buttons', () => {
      expect(limitOf(() => buttonTemplate('x', []))).to.equal('buttonTemplateButtonsMin');
      expect(limitOf(() => buttonTemplate('x', [b, b, b, b]))).to.equal('buttonTemplateButtonsMax');
    });
  });

  describe('image', () => {
    it('builds an image attachment', () => {
      expect(image('https://img.example/a.png')).to.deep.equal({
        attachment: { type: 'image', payload: { url: 'https://img.example/a.png' } },
      });
      expect(image('https://img.example/a.png', { reusable: true }).attachment.payload).to.deep.equal({
        url: 'https://img.example/a.png',
        is_reusable: true,
      });
      expect(limitOf(() => image('ftp://x'))).to.equal('url');
    });
  });

  describe('truncate', () => {
    it('leaves short strings alone', () => {
      expect(truncate('ciao', 4)).to.equal('ciao');
    });
    it('cuts to n code points including the ellipsis', () => {
      const out = truncate('abcdefghij', 5);
      expect(out).to.equal('abcd…');
      expect(charCount(out)).to.equal(5);
    });
    it('never splits a surrogate pair or an emoji sequence', () => {
      const out = truncate('ab😀😀😀', 4);
      expect(out).to.equal('ab😀…');
      const family = '👨‍👩‍👧'; // 5 code points, one grapheme
      expect(truncate(`x${family}yz`, 5)).to.equal('x…');
    });
    it('fits every builder limit', () => {
      const long = rep('é', 5000);
      expect(() => text(truncate(long, LIMITS.textMaxChars))).not.to.throw();
      expect(charCount(truncate(long, LIMITS.textMaxChars))).to.equal(LIMITS.textMaxChars);
      expect(() => postback(truncate(rep('b', 50), LIMITS.buttonTitleMaxChars), 'p')).not.to.throw();
    });
    it('handles tiny n', () => {
      expect(truncate('abcdef', 1)).to.equal('…');
      expect(truncate('abcdef', 0)).to.equal('');
    });
  });
});
