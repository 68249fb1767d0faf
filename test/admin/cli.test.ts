import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { startEmbeddedMongo } from '../../src/db/embedded/index.js';
import { AuditEntryModel } from '../../src/db/models/audit-entry.js';
import { startHarness, type Harness } from './harness.js';

/** `npm run admin:create` / `admin:token`, run as real processes (stdin not a TTY). */

const run = promisify(execFile);
const TSX = path.resolve('node_modules/.bin/tsx');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(
  script: 'admin-create' | 'admin-token',
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<CliResult> {
  const cleanEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'warn',
    EMBEDDED_MONGO_LOG_LEVEL: 'warn',
    ...env,
  };
  try {
    const { stdout, stderr } = await run(TSX, [`src/cli/${script}.ts`, ...args], {
      env: cleanEnv,
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const lastLine = (text: string) => text.trim().split('\n').at(-1)!;

describe('admin CLI', function () {
  this.timeout(120_000);

  describe('against MONGODB_URI', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness();
    });
    after(async () => h?.close());

    it('admin:token prints a working token on its last line, audited as the CLI', async () => {
      const res = await cli('admin-token', ['--name', 'ci bot', '--role', 'manager'], {
        MONGODB_URI: h.mongoUri,
      });
      expect(res.code, res.stderr).to.equal(0);
      const token = lastLine(res.stdout);
      expect(token).to.match(/^scb_[\w-]{43}$/);
      const me = await h.request('get', '/me', { token });
      expect(me.body).to.deep.include({ kind: 'token', role: 'manager', label: 'ci bot' });
      const entry = await AuditEntryModel.findOne({ action: 'token.create' }).lean();
      expect(entry?.actor?.kind).to.equal('cli');
    });

    it('admin:create generates and prints a password when stdin is not a terminal', async () => {
      const res = await cli('admin-create', ['--email', 'Owner@Example.com', '--role', 'owner'], {
        MONGODB_URI: h.mongoUri,
      });
      expect(res.code, res.stderr).to.equal(0);
      expect(res.stdout).to.include('Created owner owner@example.com');
      const password = lastLine(res.stdout);
      expect(password).to.match(/^[\w-]{24}$/);
      const session = await h.login('owner@example.com', password);
      expect((await h.request('get', '/me', { session })).body.role).to.equal('owner');

      const dup = await cli('admin-create', ['--email', 'owner@example.com', '--role', 'viewer'], {
        MONGODB_URI: h.mongoUri,
      });
      expect(dup.code).to.equal(1);
      expect(dup.stderr).to.include('already exists');
    });

    it('explains bad arguments (exit 2) without touching the database', async () => {
      const cases: ['admin-create' | 'admin-token', string[], RegExp][] = [
        ['admin-token', ['--name', 'x', '--role', 'god'], /--role must be one of/],
        ['admin-token', ['--role', 'viewer'], /--name is required/],
        ['admin-token', ['--nmae', 'x'], /Unknown option '--nmae'/],
        ['admin-token', ['--name', 'x', '--role', 'viewer', '--expires-days', 'soon'], /--expires-days/],
        ['admin-create', ['--email', 'not-an-address', '--role', 'owner'], /not an e-mail address/],
        [
          'admin-create',
          ['--email', 'a@b.it', '--role', 'owner', '--page', 'abc'],
          /--page must be a numeric/,
        ],
      ];
      const results = await Promise.all(
        cases.map(([script, args]) => cli(script, args, { MONGODB_URI: 'mongodb://127.0.0.1:1/never' })),
      );
      results.forEach((res, i) => {
        const [script, args, message] = cases[i]!;
        expect(res.code, `${script} ${args.join(' ')}`).to.equal(2);
        expect(res.stderr).to.match(message).and.include('usage: npm run');
      });
    });
  });

  describe('against the embedded database (MONGODB_URI unset)', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'admin-cli-'));
    });
    after(async () => rm(dir, { recursive: true, force: true }));

    it('starts the embedded server when none runs, and uses the running one (npm start) otherwise', async () => {
      const first = await cli('admin-token', ['--name', 'one', '--role', 'viewer'], { DATA_DIR: dir });
      expect(first.code, first.stderr).to.equal(0);
      expect(lastLine(first.stdout)).to.match(/^scb_/);

      // Now a long-running process owns the data directory, as `npm start` would.
      const server = await startEmbeddedMongo({ dbPath: dir, logger: pino({ level: 'silent' }) });
      try {
        const second = await cli('admin-token', ['--name', 'two', '--role', 'viewer'], { DATA_DIR: dir });
        expect(second.code, second.stderr).to.equal(0);
        const client = new MongoClient(server.uri);
        try {
          await client.connect();
          // Whatever database connectDatabase picks for the embedded server: the only one there.
          const { databases } = await client.db().admin().listDatabases();
          expect(databases).to.have.length(1);
          const names = await client
            .db(databases[0]!.name)
            .collection('tokens')
            .find()
            .map((t) => t.name as string)
            .toArray();
          expect(names.sort()).to.deep.equal(['one', 'two']);
        } finally {
          await client.close();
        }
      } finally {
        await server.stop();
      }
    });
  });
});
