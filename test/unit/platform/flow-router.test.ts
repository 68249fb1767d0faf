import { expect } from 'chai';
import { FlowRouter } from '../../../src/messenger/flow-router.js';
import type { Turn, TurnInput } from '../../../src/messenger/turn.js';

const turnWith = (input: TurnInput): Turn => ({ input }) as unknown as Turn;

describe('FlowRouter', () => {
  const calls: string[] = [];
  const router = new FlowRouter()
    .payload('menu', (_t, p) => void calls.push(`payload menu v${p.version} [${p.args.join(',')}]`))
    .payload('gb.join', (_t, p) => void calls.push(`payload join ${p.args[0]}`))
    .text(['menu', 'menù'], () => void calls.push('text menu'))
    .text(['help', 'aiuto'], () => void calls.push('text help'), 'contains')
    .on('attachment', () => void calls.push('attachment'))
    .fallback(() => void calls.push('fallback'));
  const route = async (input: TurnInput) => {
    calls.length = 0;
    const name = await router.dispatch(turnWith(input));
    return { name, calls: [...calls] };
  };

  it('routes postbacks and quick replies by payload name, with version and args', async () => {
    expect(await route({ type: 'postback', payload: 'menu:v1', title: 'Menu' })).to.deep.equal({
      name: 'payload:menu',
      calls: ['payload menu v1 []'],
    });
    expect(await route({ type: 'quick_reply', payload: 'gb.join:v2:c42', text: 'Join' })).to.deep.equal({
      name: 'payload:gb.join',
      calls: ['payload join c42'],
    });
  });

  it('never takes typed text that looks like a payload as an action', async () => {
    const r = await route({ type: 'text', text: 'gb.join:v1:c42' });
    expect(r.name).to.equal('fallback');
    expect(r.calls).to.deep.equal(['fallback']);
  });

  it('never lets a payload reach a text route, even when it reads like one', async () => {
    const r = await route({ type: 'postback', payload: 'help', title: 'help' });
    expect(r.name).to.equal('fallback');
    const qr = await route({ type: 'quick_reply', payload: 'aiuto', text: 'aiuto' });
    expect(qr.name).to.equal('fallback');
    // A malformed or unknown payload does not match a payload route either.
    expect((await route({ type: 'postback', payload: 'menu', title: 'x' })).name).to.equal('fallback');
    expect((await route({ type: 'postback', payload: 'nope:v1', title: 'x' })).name).to.equal('fallback');
  });

  it('exact text routes need the whole message; contains routes need whole words', async () => {
    expect((await route({ type: 'text', text: '  MENÙ!! ' })).name).to.equal('text:menu');
    expect((await route({ type: 'text', text: 'show me the menu' })).name).to.equal('fallback');
    expect((await route({ type: 'text', text: 'I need help please' })).name).to.equal('text:help');
    expect((await route({ type: 'text', text: 'helpful shop' })).name).to.equal('fallback');
  });

  it('routes by input type, first match wins, and falls back (or reports fallback without a handler)', async () => {
    expect((await route({ type: 'attachment', attachmentTypes: ['image'] })).name).to.equal('on:attachment');
    expect((await route({ type: 'referral', ref: 'x', source: 'SHORTLINK' })).calls).to.deep.equal([
      'fallback',
    ]);
    const first = new FlowRouter()
      .text(['hi'], () => void calls.push('first'))
      .text(['hi'], () => void calls.push('second'));
    calls.length = 0;
    await first.dispatch(turnWith({ type: 'text', text: 'hi' }));
    expect(calls).to.deep.equal(['first']);
    expect(await new FlowRouter().dispatch(turnWith({ type: 'text', text: 'x' }))).to.equal('fallback');
  });
});
