/**
 * MongoDB server error codes the embedded server answers with. Names and numbers match
 * src/mongo/base/error_codes.yml so the driver and mongoose classify them as they would
 * a real server's (e.g. mongoose only ignores code 48 on autoCreate).
 */
export const ErrorCodes = {
  BadValue: 2,
  FailedToParse: 9,
  TypeMismatch: 14,
  IllegalOperation: 20,
  NamespaceNotFound: 26,
  IndexNotFound: 27,
  PathNotViable: 28,
  ConflictingUpdateOperators: 40,
  CursorNotFound: 43,
  NamespaceExists: 48,
  CommandNotFound: 59,
  ImmutableField: 66,
  InvalidOptions: 72,
  InvalidNamespace: 73,
  IndexOptionsConflict: 85,
  IndexKeySpecsConflict: 86,
  OperationFailed: 96,
  Location40414: 40414,
  DuplicateKey: 11000,
  InternalError: 1,
} as const;

export type ErrorCodeName = keyof typeof ErrorCodes;

const namesByCode = new Map<number, string>(Object.entries(ErrorCodes).map(([name, code]) => [code, name]));

export function codeNameOf(code: number): string {
  return namesByCode.get(code) ?? 'UnknownError';
}

/** An error the command layer turns into `{ ok: 0, code, codeName, errmsg, ...extra }`. */
export class MongoCommandError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly extra: Record<string, unknown>;

  constructor(code: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'MongoCommandError';
    this.code = code;
    this.codeName = codeNameOf(code);
    this.extra = extra;
  }

  toReply(): Record<string, unknown> {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
  }
}

export function commandError(name: ErrorCodeName, message: string, extra?: Record<string, unknown>) {
  return new MongoCommandError(ErrorCodes[name], message, extra);
}

/**
 * Converts anything thrown while running a command (including mingo's MingoError, which
 * carries no code) into the closest MongoDB error, so clients always see a coded error.
 */
export function toCommandError(err: unknown): MongoCommandError {
  if (err instanceof MongoCommandError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/immutable field '_id'/.test(message)) return commandError('ImmutableField', message);
  if (/conflict/i.test(message) && /path|update/i.test(message)) {
    return commandError('ConflictingUpdateOperators', message);
  }
  if (/unknown|unregistered|not supported|invalid/i.test(message)) return commandError('BadValue', message);
  return commandError('BadValue', message);
}
