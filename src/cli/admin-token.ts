import { parseArgs } from 'node:util';
import { recordAudit } from '../app/audit.js';
import { createApiToken } from '../admin/auth/tokens.js';
import { cliAuditContext, parsePage, parseRole, runCli, UsageError } from './admin-cli.js';

const USAGE = `usage: npm run admin:token -- --name <label> --role <owner|manager|viewer> [--page <page id>] [--expires-days <n>]

Creates an API token for automation (send it as "Authorization: Bearer <token>").
The token is printed once, on the last line; only its hash is stored.`;

await runCli(
  USAGE,
  (config) => {
    const { values } = parseArgs({
      options: {
        name: { type: 'string' },
        role: { type: 'string' },
        page: { type: 'string' },
        'expires-days': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const name = values.name?.trim();
    if (!name) throw new UsageError('--name is required');
    if (name.length > 100) throw new UsageError('--name must be at most 100 characters');
    let expiresDays: number | undefined;
    if (values['expires-days'] !== undefined) {
      expiresDays = Number(values['expires-days']);
      if (!Number.isInteger(expiresDays) || expiresDays < 1 || expiresDays > 3650) {
        throw new UsageError('--expires-days must be a whole number from 1 to 3650');
      }
    }
    return { name, role: parseRole(values.role), pageId: parsePage(values.page, config), expiresDays };
  },
  async (_env, args) => {
    const now = new Date();
    const { token, doc } = await createApiToken({
      pageId: args.pageId,
      name: args.name,
      role: args.role,
      createdBy: 'cli',
      now,
      expiresAt: args.expiresDays ? new Date(now.getTime() + args.expiresDays * 86_400_000) : undefined,
    });
    await recordAudit(cliAuditContext(args.pageId, now), {
      action: 'token.create',
      target: { type: 'token', id: doc.id },
      after: { role: doc.role, prefix: doc.prefix },
    });
    console.log(
      `Created ${doc.role} token "${doc.name}" on page ${args.pageId} (id ${doc.id}` +
        `${doc.expiresAt ? `, expires ${doc.expiresAt.toISOString()}` : ''}). It is shown only now:`,
    );
    console.log(token);
  },
);
