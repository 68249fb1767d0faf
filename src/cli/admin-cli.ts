import { hostname, userInfo } from 'node:os';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../config/index.js';
import { connectDatabase, type DatabaseHandle } from '../db/connection.js';
import type { AuditContext } from '../app/audit.js';
import { AdminError } from '../admin/errors.js';
import { MANAGER_ROLES, type ManagerRole } from '../db/models/manager.js';

/** What the admin:* commands share: config, a stderr logger, the database, and error reporting. */

export class UsageError extends Error {}

export function parseRole(value: string | undefined): ManagerRole {
  if (value === undefined) throw new UsageError(`--role is required (${MANAGER_ROLES.join(', ')})`);
  if (!(MANAGER_ROLES as readonly string[]).includes(value)) {
    throw new UsageError(`--role must be one of ${MANAGER_ROLES.join(', ')} (got "${value}")`);
  }
  return value as ManagerRole;
}

export function parsePage(value: string | undefined, config: Config): string {
  const page = value ?? config.facebook.page.id;
  if (!/^\d{1,32}$/.test(page)) throw new UsageError(`--page must be a numeric Page id (got "${page}")`);
  return page;
}

/** Logs go to stderr so stdout carries only the result (the token is its last line). */
export function cliLogger(): Logger {
  return pino(
    { level: process.env.LOG_LEVEL ?? 'warn', redact: { paths: ['*.password'], remove: true } },
    pino.destination(2),
  );
}

export function cliAuditContext(pageId: string, now: Date): AuditContext {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return { pageId, now, actor: { kind: 'cli', id: `${user}@${hostname()}`, label: 'npm run admin:*' } };
}

function isParseArgsError(err: unknown): err is Error {
  return err instanceof Error && String((err as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
}

/**
 * Parses arguments (before touching the database, so a typo fails fast), runs the command with a
 * database connection, closes it whatever happens, and sets the exit code: 2 for usage errors, 1 otherwise.
 */
export async function runCli<A>(
  usage: string,
  parse: (config: Config) => A,
  body: (env: { config: Config; log: Logger; db: DatabaseHandle }, args: A) => Promise<void>,
): Promise<void> {
  let db: DatabaseHandle | undefined;
  try {
    const config = loadConfig();
    const args = parse(config);
    const log = cliLogger();
    db = await connectDatabase(config, log);
    await body({ config, log, db }, args);
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      console.error(`error: ${err.message}\n\n${usage}`);
      process.exitCode = 2;
    } else {
      console.error(
        `error: ${err instanceof AdminError || err instanceof Error ? err.message : String(err)}`,
      );
      process.exitCode = 1;
    }
  } finally {
    await db?.close().catch((err: unknown) => console.error('warning: closing the database failed:', err));
  }
}
