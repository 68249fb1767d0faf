import { Long } from 'bson';
import type { Logger } from 'pino';
import type { CursorRegistry } from '../cursors.js';
import { commandError } from '../errors.js';
import type { Storage } from '../storage.js';
import type { Doc } from '../values.js';

export interface ServerStats {
  startedAt: number;
  connectionsCurrent: number;
  connectionsTotal: number;
  opcounters: Record<'insert' | 'query' | 'update' | 'delete' | 'getmore' | 'command', number>;
}

/** What a command handler may touch. Handlers are synchronous, which is what makes each atomic. */
export interface CommandContext {
  db: string;
  storage: Storage;
  cursors: CursorRegistry;
  connectionId: number;
  stats: ServerStats;
  logger: Logger;
  /** The name the command was invoked with (e.g. "isMaster" vs "hello"). */
  name: string;
}

export type CommandHandler = (cmd: Doc, ctx: CommandContext) => Doc;

export function stringArg(cmd: Doc, field: string): string {
  const v = cmd[field];
  if (typeof v !== 'string' || v.length === 0) {
    throw commandError('InvalidNamespace', `collection name has invalid type ${typeof v}`);
  }
  return v;
}

export function numberArg(cmd: Doc, field: string): number | undefined {
  const v = cmd[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (v instanceof Long) return v.toNumber();
  if (typeof v === 'bigint') return Number(v);
  throw commandError('TypeMismatch', `Field '${field}' must be a number`);
}

export function cursorIdArg(v: unknown): bigint {
  if (v instanceof Long) return v.toBigInt();
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'bigint') return v;
  throw commandError('TypeMismatch', 'cursor id must be an int64');
}
