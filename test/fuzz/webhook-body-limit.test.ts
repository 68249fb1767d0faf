/**
 * The webhook refuses an oversized body with 413 while it is still arriving: a sender that declares
 * or streams more than WEBHOOK_MAX_BODY_BYTES must not hold the socket until the request timeout.
 * Checked on a raw socket that never finishes its body, so only an early answer can pass.
 */
import net from 'node:net';
import { expect } from 'chai';
import { startTestApp, type TestApp } from '../support/app.js';

const MAX_BODY = 64 * 1024;

describe('webhook body limit (hostile senders)', function () {
  let t: TestApp;

  before(async () => {
    t = await startTestApp({ WEBHOOK_MAX_BODY_BYTES: String(MAX_BODY) });
  });
  after(async () => {
    await t?.stop();
  });

  /** Sends headers and the first bytes of a body, then resolves with the status line of the answer. */
  function partialPost(headers: string[], firstBytes: Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      const url = new URL(t.webhookUrl);
      const socket = net.connect(Number(url.port), url.hostname);
      let answer = '';
      const statusLine = () => answer.split('\r\n')[0]!;
      socket.on('connect', () => {
        socket.write([`POST ${url.pathname} HTTP/1.1`, `Host: ${url.host}`, ...headers, '', ''].join('\r\n'));
        socket.write(firstBytes);
      });
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString('latin1');
        if (answer.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(statusLine());
        }
      });
      // A reset after the answer arrived is the server refusing the rest of the body, not a failure.
      socket.on('error', (error) => (answer ? resolve(statusLine()) : reject(error)));
      socket.on('close', () =>
        answer ? resolve(statusLine()) : reject(new Error('closed without an answer')),
      );
    });
  }

  it('answers 413 to a body declared larger than the limit before the body is sent', async () => {
    const status = await partialPost(
      ['Content-Type: application/json', `Content-Length: ${MAX_BODY * 100}`],
      Buffer.from('{"object":"page","entry":['),
    );
    expect(status).to.match(/^HTTP\/1\.1 413 /);
  });

  it('answers 413 to a chunked body as soon as it passes the limit, without waiting for its end', async () => {
    const chunk = Buffer.alloc(MAX_BODY + 1, 'x');
    const status = await partialPost(
      ['Content-Type: application/json', 'Transfer-Encoding: chunked'],
      Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
    );
    expect(status).to.match(/^HTTP\/1\.1 413 /);
  });

  it('still accepts a signed body just under the limit, and stays healthy', async () => {
    const padding = 'x'.repeat(MAX_BODY - 200);
    const body = JSON.stringify({ object: 'page', entry: [], padding });
    expect((await t.post(body)).status).to.equal(200);
    expect((await fetch(`${t.app.url}/healthz`)).status).to.equal(200);
  });
});
