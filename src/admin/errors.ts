/**
 * The one error type of the admin API. Every failure a client can see is an AdminError, rendered as
 * `{"error":{"code","message","details"}}` with the status that belongs to its type.
 */

export const ADMIN_ERROR_STATUS = {
  validation: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
} as const;

export type AdminErrorType = keyof typeof ADMIN_ERROR_STATUS;

export interface AdminErrorBody {
  error: { code: string; message: string; details: unknown };
}

export class AdminError extends Error {
  readonly status: number;
  /** A stable machine-readable code; defaults to the type (e.g. `validation`), may be finer (`csrf_failed`). */
  readonly code: string;

  constructor(
    readonly type: AdminErrorType,
    message: string,
    readonly details: unknown = null,
    code?: string,
    /** Seconds, for 429 answers (sent as `Retry-After`). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'AdminError';
    this.status = ADMIN_ERROR_STATUS[type];
    this.code = code ?? type;
  }

  toBody(): AdminErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export const notFound = (what: string, id?: string): AdminError =>
  new AdminError('not_found', id ? `${what} ${id} not found` : `${what} not found`, id ? { id } : null);

export const conflict = (message: string, details: unknown = null, code?: string): AdminError =>
  new AdminError('conflict', message, details, code);

/** MongoDB's duplicate-key error, whatever driver layer wrapped it. */
export function isDuplicateKeyError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}
