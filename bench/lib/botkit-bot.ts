/**
 * Bench child: the peer to beat, a plain Botkit 4.15 + botbuilder-adapter-facebook 1.0.12 echo bot
 * as its documentation shows it. One change, in this benchmark only: the adapter's FacebookAPI
 * always calls `https://<api_host>`; our fake Graph API speaks plain HTTP on localhost, so
 * `callAPI` is replaced by a copy that differs only in the scheme (same `request` library, same
 * query string, no keep-alive, exactly as the original). Against Meta it would also pay a TLS
 * handshake per call, so this flatters it slightly.
 */
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Botkit } from 'botkit';
import { FacebookAdapter, FacebookAPI } from 'botbuilder-adapter-facebook';
import { serveBench } from './child.js';

type RequestFn = (
  options: Record<string, unknown>,
  callback: (
    err: unknown,
    res: unknown,
    body: { error?: { message?: string } } & Record<string, unknown>,
  ) => void,
) => void;

// The adapter resolves `request` from its own location; use the very same module.
const requireFromAdapter = createRequire(
  createRequire(import.meta.url).resolve('botbuilder-adapter-facebook'),
);
const request = requireFromAdapter('request') as RequestFn;

interface ApiFields {
  token: string;
  secret: string;
  api_host: string;
  api_version: string;
}

FacebookAPI.prototype.callAPI = function callAPI(
  this: FacebookAPI,
  path: string,
  method = 'POST',
  payload: Record<string, unknown> = {},
): Promise<unknown> {
  const self = this as unknown as ApiFields;
  const proof = crypto
    .createHmac('sha256', self.secret || '')
    .update(self.token)
    .digest('hex');
  let queryString = '?';
  let body: Record<string, unknown> = {};
  if (method.toUpperCase() === 'GET') {
    for (const key in payload) {
      queryString += `${encodeURIComponent(key)}=${encodeURIComponent(String(payload[key]))}&`;
    }
  } else {
    body = payload;
  }
  return new Promise((resolve, reject) => {
    request(
      {
        method: method.toUpperCase(),
        json: true,
        body,
        // The original: `https://${this.api_host}/...`
        uri: `http://${self.api_host}/${self.api_version}${path}${queryString}access_token=${self.token}&appsecret_proof=${proof}`,
      },
      (err, _res, resBody) => {
        if (err) reject(err);
        else if (resBody.error) reject(resBody.error.message);
        else resolve(resBody);
      },
    );
  });
};

let controller: Botkit | undefined;

serveBench({
  async start() {
    const env = process.env;
    // Botkit's own express server listens on process.env.PORT (the parent sets 0: any free port).
    controller = new Botkit({
      adapter: new FacebookAdapter({
        verify_token: env.FACEBOOK_VERIFY_TOKEN!,
        app_secret: env.FACEBOOK_APP_SECRET!,
        access_token: env.FACEBOOK_ACCESS_TOKEN!,
        api_host: env.BENCH_API_HOST!,
        api_version: env.GRAPH_API_VERSION ?? 'v25.0',
      }),
      webhook_uri: '/api/messages',
    });
    controller.on('message', async (bot, message) => {
      await bot.reply(message, `echo: ${message.text ?? ''}`);
    });
    const c = controller;
    await new Promise<void>((resolve) => c.ready(() => resolve()));
    const port = (c.http.address() as AddressInfo).port;
    return { url: `http://127.0.0.1:${port}`, info: { botkit: '4.15.0', adapter: '1.0.12' } };
  },
  async stop() {
    controller?.http.closeAllConnections();
    await new Promise<void>((resolve) => (controller ? controller.http.close(() => resolve()) : resolve()));
  },
});
