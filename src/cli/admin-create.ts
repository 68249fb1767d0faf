import { parseArgs } from 'node:util';
import { recordAudit } from '../app/audit.js';
import { createManager } from '../admin/auth/accounts.js';
import { generatePassword, passwordProblem } from '../admin/auth/passwords.js';
import { cliAuditContext, parsePage, parseRole, runCli, UsageError } from './admin-cli.js';

const USAGE = `usage: npm run admin:create -- --email <address> --role <owner|manager|viewer> [--page <page id>]

Creates a brand-manager account. On a terminal you are asked for the password (twice, hidden);
otherwise a password is generated and printed once.`;

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(question);
    let value = '';
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.resume();
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function askPassword(): Promise<string> {
  for (;;) {
    const first = await promptHidden('Password: ');
    const problem = passwordProblem(first);
    if (problem) {
      process.stderr.write(`The password ${problem}; try again.\n`);
      continue;
    }
    if ((await promptHidden('Repeat password: ')) === first) return first;
    process.stderr.write('The passwords differ; try again.\n');
  }
}

await runCli(
  USAGE,
  (config) => {
    const { values } = parseArgs({
      options: {
        email: { type: 'string' },
        role: { type: 'string' },
        page: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const email = values.email?.trim();
    if (!email) throw new UsageError('--email is required');
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
      throw new UsageError(`--email "${email}" is not an e-mail address`);
    return { email, role: parseRole(values.role), pageId: parsePage(values.page, config) };
  },
  async (_env, args) => {
    const interactive = Boolean(process.stdin.isTTY);
    const password = interactive ? await askPassword() : generatePassword();
    const now = new Date();
    const manager = await createManager({ ...args, password, createdBy: 'cli', now });
    await recordAudit(cliAuditContext(args.pageId, now), {
      action: 'manager.create',
      target: { type: 'manager', id: manager.id },
      after: { role: manager.role },
    });
    console.log(`Created ${manager.role} ${manager.email} on page ${args.pageId} (id ${manager.id}).`);
    if (!interactive) {
      console.log('Generated password (shown only now; sign in and keep it safe):');
      console.log(password);
    }
  },
);
