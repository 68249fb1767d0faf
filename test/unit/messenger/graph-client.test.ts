/**
 * GraphClient against a tiny scripted HTTP server: odd answers Meta (or a proxy) can give, and logging.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { pino } from 'pino';

import { GraphClient } from '../../../src/messenger/graph/client.js';
import { GraphApiError } from '../../../src/messenger/graph/errors.js';

const TOKEN = 'SECRET-PAGE-TOKEN-do-not-log';

describe('messenger/graph/client (scripted server)', () => {
  let server: http.Server;
  let url: string;
  let next: { status: number; body: string; type?: string } = { status: 200, body: '{}' };
  let lastUrl = '';
  let lastBody = '';

  before(async () => {
    server = http.createServer((req, res) => {
      lastUrl = req.url ?? '';
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString()));
      req.on('end', () => {
        lastBody = data;
        res.writeHead(next.status, { 'content-type': next.type ?? 'application/json' });
        res.end(next.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = (log?: ConstructorParameters<typeof GraphClient>[0]['log']) =>
    new GraphClient({ baseUrl: url, version: 'v25.0', appSecret: 'app-secret', timeoutMs: 1000, log });

  it('sends JSON to /{version}/{page}/messages and returns camelCase ids', async () => {
    next = { status: 200, body: '{"recipient_id":"123","message_id":"m_abc"}' };
    const c = client();
    const r = await c.sendMessage(TOKEN, 'PAGE1', {
      recipient: { id: '123' },
      messaging_type: 'MESSAGE_TAG',
      tag: 'POST_PURCHASE_UPDATE',
      message: { text: 'hi' },
    });
    c.close();
    expect(r).to.deep.equal({ recipientId: '123', messageId: 'm_abc' });
    expect(lastUrl).to.match(/^\/v25\.0\/PAGE1\/messages\?/);
    expect(JSON.parse(lastBody)).to.deep.equal({
      recipient: { id: '123' },
      messaging_type: 'MESSAGE_TAG',
      tag: 'POST_PURCHASE_UPDATE',
      message: { text: 'hi' },
    });
  });

  it('an HTML 502 from a proxy → temporary GraphApiError', async () => {
    next = { status: 502, body: '<html>Bad gateway</html>', type: 'text/html' };
    const c = client();
    try {
      await c.getMe(TOKEN);
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(GraphApiError);
      expect((e as GraphApiError).kind).to.equal('temporary');
      expect((e as GraphApiError).httpStatus).to.equal(502);
    } finally {
      c.close();
    }
  });

  it('an error object in a 200 answer is still an error', async () => {
    next = {
      status: 200,
      body: '{"error":{"code":1,"message":"An unknown error occurred","fbtrace_id":"X"}}',
    };
    const c = client();
    try {
      await c.getMe(TOKEN);
      expect.fail('should throw');
    } catch (e) {
      expect((e as GraphApiError).kind).to.equal('temporary');
      expect((e as GraphApiError).code).to.equal(1);
    } finally {
      c.close();
    }
  });

  it('a 200 without message_id is a non-retryable GraphApiError (it may have been sent)', async () => {
    next = { status: 200, body: '{"recipient_id":"123"}' };
    const c = client();
    try {
      await c.sendMessage(TOKEN, 'P', {
        recipient: { id: '123' },
        messaging_type: 'RESPONSE',
        message: { text: 'x' },
      });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(GraphApiError);
      expect((e as GraphApiError).retryable).to.equal(false);
    } finally {
      c.close();
    }
  });

  it('logs calls and errors without the access token (pino-compatible logger)', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(s) });
    const c = client(log);
    next = { status: 200, body: '{"id":"1","name":"P"}' };
    await c.getMe(TOKEN);
    next = { status: 400, body: '{"error":{"code":190,"message":"bad token","fbtrace_id":"T"}}' };
    await c.getMe(TOKEN).catch(() => undefined);
    c.close();
    expect(lines).to.have.length(2);
    expect(lines.join('\n')).not.to.contain(TOKEN);
    expect(JSON.parse(lines[1]!)).to.deep.include({ msg: 'graph api error' });
    expect(JSON.parse(lines[1]!).err).to.include({ kind: 'token', code: 190, fbtraceId: 'T' });
  });
});
