import { expect } from 'chai';

import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../../src/dev/fake-graph/index.js';
import { GraphClient } from '../../../src/messenger/graph/client.js';
import {
  GraphApiError,
  GraphNetworkError,
  type GraphErrorKind,
} from '../../../src/messenger/graph/errors.js';

export const APP_SECRET = 'test-app-secret-0123456789';
export const PAGE = {
  id: '100000000000111',
  name: 'Denim Lab',
  accessToken: 'PAGE-TOKEN-111-abcdefghijklmnop',
};
export const OTHER_PAGE = {
  id: '100000000000222',
  name: 'Other',
  accessToken: 'PAGE-TOKEN-222-abcdefghijklmnop',
};
export const VERSION = 'v25.0';
export const H = 60 * 60 * 1000;
export const T0 = Date.parse('2026-03-10T12:00:00Z');

export interface Harness {
  fake: FakeGraph;
  server: FakeGraphServer;
  client: GraphClient;
  clock: { ms: number; advance(ms: number): void; date(offsetMs?: number): Date };
}

/** One fake Graph API on a real port, a client pointed at it, and a hand-driven clock. */
export async function startHarness(): Promise<Harness> {
  const clock = {
    ms: T0,
    advance(ms: number) {
      this.ms += ms;
    },
    date(offsetMs = 0) {
      return new Date(this.ms + offsetMs);
    },
  };
  const fake = createFakeGraph({
    appSecret: APP_SECRET,
    pages: [PAGE, OTHER_PAGE],
    version: VERSION,
    latencyMs: 0,
    clock: () => new Date(clock.ms),
  });
  const server = await fake.listen();
  const client = new GraphClient({
    baseUrl: server.url,
    version: VERSION,
    appSecret: APP_SECRET,
    timeoutMs: 400,
  });
  return { fake, server, client, clock };
}

export async function expectGraphError(
  p: Promise<unknown>,
  want: { kind: GraphErrorKind; code?: number; subcode?: number; httpStatus?: number },
): Promise<GraphApiError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(GraphApiError);
    const err = e as GraphApiError;
    expect(err.kind, err.message).to.equal(want.kind);
    if (want.code !== undefined) expect(err.code, err.message).to.equal(want.code);
    if (want.subcode !== undefined) expect(err.subcode, err.message).to.equal(want.subcode);
    if (want.httpStatus !== undefined) expect(err.httpStatus, err.message).to.equal(want.httpStatus);
    expect(err.fbtraceId).to.be.a('string').and.not.equal('');
    return err;
  }
  expect.fail(`expected a GraphApiError of kind ${want.kind}`);
}

export async function expectNetworkError(p: Promise<unknown>): Promise<GraphNetworkError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(GraphNetworkError);
    return e as GraphNetworkError;
  }
  expect.fail('expected a GraphNetworkError');
}
