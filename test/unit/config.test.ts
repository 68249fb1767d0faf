import { expect } from 'chai';
import { ConfigError, loadConfig, SIMULATOR_CREDENTIALS } from '../../src/config/index.js';

const REAL = {
  FACEBOOK_APP_SECRET: 'a-real-app-secret',
  FACEBOOK_VERIFY_TOKEN: 'verify-me',
  FACEBOOK_ACCESS_TOKEN: 'EAAB-page-token-0123456789',
  FACEBOOK_PAGE_ID: '123456789',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('configuration', () => {
  it('starts in simulator mode with defaults when no Facebook credentials are set', () => {
    const config = loadConfig({});
    expect(config.simulator).to.equal(true);
    expect(config.port).to.equal(3000);
    expect(config.graph.version).to.equal('v25.0');
    expect(config.defaultLocale).to.equal('it');
    expect(config.role).to.equal('all');
    expect(config.mongodbUri).to.equal(undefined);
    expect(config.facebook.appSecret).to.equal(SIMULATOR_CREDENTIALS.appSecret);
    expect(config.graph.url).to.equal('http://127.0.0.1:3000/fake-graph');
    expect(Object.isFrozen(config) && Object.isFrozen(config.facebook)).to.equal(true);
  });

  it('uses the real Graph API when all credentials are set', () => {
    const config = loadConfig({ ...REAL, GRAPH_API_VERSION: 'v24.0', ROLE: 'worker' });
    expect(config.simulator).to.equal(false);
    expect(config.graph.url).to.equal('https://graph.facebook.com');
    expect(config.facebook.page.id).to.equal('123456789');
    expect(config.role).to.equal('worker');
  });

  it('names each missing credential when only some are set', () => {
    const problems = problemsOf({ FACEBOOK_APP_SECRET: 'a-real-app-secret' });
    expect(problems).to.have.length(3);
    expect(problems.join('\n')).to.contain('FACEBOOK_ACCESS_TOKEN').and.contain('FACEBOOK_PAGE_ID');
  });

  it('names every malformed variable at once', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      MONGODB_URI: 'postgres://x',
      GRAPH_API_VERSION: 'v3.2',
      DEFAULT_LOCALE: 'fr',
      ROLE: 'cron',
    });
    const text = problems.join('\n');
    for (const name of ['PORT', 'MONGODB_URI', 'GRAPH_API_VERSION', 'DEFAULT_LOCALE', 'ROLE']) {
      expect(text).to.contain(name);
    }
    expect(text).to.contain('expired');
  });

  it('lease lengths and the public-reply interval default to the long values and refuse unsafe short ones', () => {
    const defaults = loadConfig({});
    expect(defaults.leases).to.deep.equal({
      inboxMs: 30_000,
      outboxClaimMs: 60_000,
      outboxEchoGraceMs: 15_000,
      jobMs: 600_000,
    });
    expect(defaults.commentsPublicReplyIntervalMs).to.equal(30_000);
    const short = loadConfig({
      INBOX_LEASE_SECONDS: '5',
      OUTBOX_CLAIM_SECONDS: '15',
      OUTBOX_ECHO_GRACE_SECONDS: '0',
      JOB_LEASE_SECONDS: '10',
      COMMENTS_PUBLIC_REPLY_INTERVAL_S: '0',
    });
    expect(short.leases).to.deep.equal({
      inboxMs: 5000,
      outboxClaimMs: 15_000,
      outboxEchoGraceMs: 0,
      jobMs: 10_000,
    });
    expect(short.commentsPublicReplyIntervalMs).to.equal(0);
    const text = problemsOf({
      INBOX_LEASE_SECONDS: '1',
      OUTBOX_CLAIM_SECONDS: '5',
      JOB_LEASE_SECONDS: '2',
      COMMENTS_PUBLIC_REPLY_INTERVAL_S: '-1',
    }).join('\n');
    for (const name of [
      'INBOX_LEASE_SECONDS',
      'OUTBOX_CLAIM_SECONDS',
      'JOB_LEASE_SECONDS',
      'COMMENTS_PUBLIC_REPLY_INTERVAL_S',
    ])
      expect(text).to.contain(name);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ MONGODB_URI: '', FACEBOOK_APP_SECRET: '' }).simulator).to.equal(true);
  });
});
