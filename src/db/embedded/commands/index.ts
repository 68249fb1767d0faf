import { commandError, toCommandError } from '../errors.js';
import type { Doc } from '../values.js';
import { adminCommands } from './admin.js';
import type { CommandContext } from './context.js';
import { crudCommands } from './crud.js';

export type { CommandContext, ServerStats } from './context.js';

const handlers = { ...adminCommands, ...crudCommands };

/**
 * Runs one command synchronously and always returns a reply document (errors become
 * `{ ok: 0, code, codeName, errmsg }`), so nothing a client sends can throw out of here.
 */
export function runCommand(cmd: Doc, ctx: Omit<CommandContext, 'name'>): Doc {
  const name = Object.keys(cmd)[0] ?? '';
  try {
    if (cmd.txnNumber !== undefined) {
      // What a real standalone mongod answers; the driver only sends txnNumber when it
      // believes transactions or retryable writes are available.
      throw commandError(
        'IllegalOperation',
        'Transaction numbers are only allowed on a replica set member or mongos',
      );
    }
    const handler = Object.hasOwn(handlers, name) ? handlers[name] : undefined;
    if (!handler) throw commandError('CommandNotFound', `no such command: '${name}'`);
    return handler(cmd, { ...ctx, name });
  } catch (err) {
    const e = toCommandError(err);
    if (!(err instanceof Error && err.name === 'MongoCommandError')) {
      ctx.logger.debug({ err, command: name }, 'embedded mongo: command failed');
    }
    return e.toReply();
  }
}
