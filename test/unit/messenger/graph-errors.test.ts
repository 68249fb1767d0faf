import { expect } from 'chai';

import {
  GraphApiError,
  GraphNetworkError,
  classifyGraphError,
  isRetryable,
  parseGraphErrorBody,
  type GraphErrorKind,
} from '../../../src/messenger/graph/errors.js';

const body = (code: number, subcode?: number) => ({
  error: {
    message: `(#${code}) something`,
    type: 'OAuthException',
    code,
    ...(subcode === undefined ? {} : { error_subcode: subcode }),
    fbtrace_id: 'AbCdEf123',
  },
});

describe('messenger/graph/errors', () => {
  describe('classifyGraphError follows reference §6', () => {
    const table: [number, number, number | undefined, GraphErrorKind][] = [
      // [http, code, subcode, kind]
      [400, 10, 2018278, 'outside_window'],
      [400, 10, undefined, 'permission'],
      [400, 10, 2018065, 'permission'],
      [400, 551, 1545041, 'unreachable'],
      [400, 551, undefined, 'unreachable'],
      [400, 10900, undefined, 'private_reply_done'],
      [400, 10903, undefined, 'private_reply_done'],
      [400, 190, 460, 'token'],
      [401, 190, undefined, 'token'],
      [400, 4, undefined, 'throttled'],
      [400, 17, undefined, 'throttled'],
      [400, 32, undefined, 'throttled'],
      [400, 613, undefined, 'throttled'],
      [500, 1, undefined, 'temporary'],
      [503, 2, undefined, 'temporary'],
      [400, 1200, undefined, 'temporary'],
      [400, 100, undefined, 'invalid'],
      [400, 100, 2018001, 'invalid'],
      [403, 200, undefined, 'permission'],
      [400, 230, undefined, 'permission'],
      [400, 368, undefined, 'abusive'],
    ];
    for (const [http, code, sub, kind] of table) {
      it(`HTTP ${http} code ${code}${sub ? `/${sub}` : ''} → ${kind}`, () => {
        expect(classifyGraphError(http, body(code, sub))).to.equal(kind);
      });
    }

    it('HTTP 5xx without a known code → temporary (even with an HTML body)', () => {
      expect(classifyGraphError(502, '<html>Bad Gateway</html>')).to.equal('temporary');
      expect(classifyGraphError(500, {})).to.equal('temporary');
      expect(classifyGraphError(500, body(99999))).to.equal('temporary');
    });

    it('a known code wins over the HTTP status', () => {
      expect(classifyGraphError(500, body(190))).to.equal('token');
      expect(classifyGraphError(500, body(10, 2018278))).to.equal('outside_window');
    });

    it('unknown 4xx → invalid (record, do not retry); 429 → throttled', () => {
      expect(classifyGraphError(400, body(99999))).to.equal('invalid');
      expect(classifyGraphError(404, null)).to.equal('invalid');
      expect(classifyGraphError(429, {})).to.equal('throttled');
    });

    it('accepts a JSON string body and string codes', () => {
      expect(classifyGraphError(400, JSON.stringify(body(10, 2018278)))).to.equal('outside_window');
      expect(classifyGraphError(400, { error: { code: '551', error_subcode: '1545041' } })).to.equal(
        'unreachable',
      );
    });
  });

  it('isRetryable: only temporary and throttled', () => {
    const kinds: GraphErrorKind[] = [
      'temporary',
      'throttled',
      'outside_window',
      'unreachable',
      'invalid',
      'token',
      'permission',
      'abusive',
      'private_reply_done',
    ];
    expect(kinds.filter(isRetryable)).to.deep.equal(['temporary', 'throttled']);
  });

  it('parseGraphErrorBody keeps Meta fields and tolerates junk', () => {
    expect(parseGraphErrorBody(body(10, 2018278))).to.deep.equal({
      message: '(#10) something',
      type: 'OAuthException',
      code: 10,
      error_subcode: 2018278,
      fbtrace_id: 'AbCdEf123',
    });
    expect(parseGraphErrorBody(undefined)).to.deep.equal({});
    expect(parseGraphErrorBody('not json')).to.deep.equal({});
    expect(parseGraphErrorBody({ error: 'x' })).to.deep.equal({});
  });

  it('GraphApiError keeps status, code, subcode, type, fbtrace id and kind', () => {
    const e = new GraphApiError(400, body(551, 1545041), { method: 'POST', path: '/v25.0/1/messages' });
    expect(e).to.be.instanceOf(Error);
    expect(e.name).to.equal('GraphApiError');
    expect(e.httpStatus).to.equal(400);
    expect(e.code).to.equal(551);
    expect(e.subcode).to.equal(1545041);
    expect(e.type).to.equal('OAuthException');
    expect(e.fbtraceId).to.equal('AbCdEf123');
    expect(e.kind).to.equal('unreachable');
    expect(e.retryable).to.equal(false);
    expect(e.graphMessage).to.equal('(#551) something');
    expect(e.message).to.contain('POST /v25.0/1/messages').and.contain('551');
    expect(e.toJSON()).to.include({ kind: 'unreachable', code: 551, subcode: 1545041 });
  });

  it('GraphNetworkError is temporary and tells whether the request may have left', () => {
    const refused = new GraphNetworkError('x', { code: 'ECONNREFUSED', timedOut: false });
    expect(refused.kind).to.equal('temporary');
    expect(refused.retryable).to.equal(true);
    expect(refused.maybeDelivered).to.equal(false);
    const timeout = new GraphNetworkError('x', { code: 'ETIMEDOUT', timedOut: true });
    expect(timeout.maybeDelivered).to.equal(true);
    expect(timeout.timedOut).to.equal(true);
  });
});
