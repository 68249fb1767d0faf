import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { SUBSCRIBED_FIELDS } from '../../src/messenger/profile.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGE = {
  id: '320000000000001',
  name: 'Setup Test Page',
  accessToken: 'SETUP-TEST-PAGE-ACCESS-TOKEN-000000001',
};
const APP_SECRET = 'setup-test-app-secret';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runSetup(env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/messenger-setup.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run messenger:setup (CLI against the fake Graph API)', function () {
  this.timeout(60_000);
  let fake: FakeGraph;
  let server: FakeGraphServer;
  const realEnv = (token = PAGE.accessToken) => ({
    FACEBOOK_APP_SECRET: APP_SECRET,
    FACEBOOK_VERIFY_TOKEN: 'setup-verify',
    FACEBOOK_ACCESS_TOKEN: token,
    FACEBOOK_PAGE_ID: PAGE.id,
    GRAPH_API_URL: server.url,
    PUBLIC_URL: 'https://shop.example.com',
  });
  const profileCalls = () => fake.calls.filter((c) => c.path.endsWith('/messenger_profile'));

  before(async () => {
    fake = createFakeGraph({ appSecret: APP_SECRET, pages: [PAGE], version: 'v25.0' });
    server = await fake.listen();
  });
  after(async () => {
    await server?.close();
  });
  beforeEach(() => fake.reset());

  it('pushes Get Started, greeting and menu in exactly one profile call, then subscribes the fields', async () => {
    const run = await runSetup(realEnv());
    expect(run.code, run.stderr).to.equal(0);
    expect(profileCalls()).to.have.length(1);
    expect(profileCalls()[0]!.method).to.equal('POST');
    expect(profileCalls()[0]!.status).to.equal(200);
    const profile = fake.messengerProfile(PAGE.id)!;
    expect(profile.get_started).to.deep.equal({ payload: 'start:v1' });
    expect((profile.greeting as { locale: string }[]).map((g) => g.locale)).to.include('default');
    const menu = profile.persistent_menu as { locale: string; call_to_actions: { url?: string }[] }[];
    expect(menu.map((m) => m.locale)).to.include('default');
    expect(JSON.stringify(menu)).to.contain('https://shop.example.com/privacy');
    expect(fake.subscribedFields(PAGE.id)).to.deep.equal([...SUBSCRIBED_FIELDS]);
    expect(run.stdout).to.match(/Messenger profile set in one call/);
    expect(run.stdout).to.contain(SUBSCRIBED_FIELDS.join(', '));
    expect(run.stdout).to.contain('https://shop.example.com/api/messages');
  });

  it('in simulator mode says that npm start pushes the profile, calls nothing, and exits 0', async () => {
    const run = await runSetup({ GRAPH_API_URL: server.url });
    expect(run.code).to.equal(0);
    expect(run.stdout).to.match(/Simulator mode/);
    expect(run.stdout).to.match(/npm start/);
    expect(fake.calls).to.have.length(0);
  });

  it('reports a Graph API error with its code, subcode and fbtrace_id, and stops before subscribing', async () => {
    fake.revokeToken(PAGE.accessToken);
    const run = await runSetup(realEnv());
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/setting the Messenger profile failed: Graph API error code 190/);
    expect(run.stderr).to.match(/fbtrace_id: \S+/);
    expect(run.stderr).to.match(/hint: FACEBOOK_ACCESS_TOKEN is invalid or expired/);
    expect(fake.calls.filter((c) => c.path.endsWith('/subscribed_apps'))).to.have.length(0);
    expect(fake.subscribedFields(PAGE.id)).to.equal(undefined);
  });

  it('explains the profile rate limit (613) and an unreachable Graph API', async () => {
    fake.inject({ kind: '613', match: (c) => c.path.endsWith('/messenger_profile') });
    const limited = await runSetup(realEnv());
    expect(limited.code).to.equal(1);
    expect(limited.stderr).to.match(/code 613/);
    expect(limited.stderr).to.match(/10 Messenger Profile calls per 10 minutes/);
    const down = await runSetup({ ...realEnv(), GRAPH_API_URL: 'http://127.0.0.1:9' });
    expect(down.code).to.equal(1);
    expect(down.stderr).to.match(/could not reach the Graph API at http:\/\/127\.0\.0\.1:9/);
  });

  it('refuses an incomplete configuration with the variable named (exit 78)', async () => {
    const run = await runSetup({ FACEBOOK_APP_SECRET: APP_SECRET, GRAPH_API_URL: server.url });
    expect(run.code).to.equal(78);
    expect(run.stderr).to.match(/FACEBOOK_ACCESS_TOKEN/);
  });
});
