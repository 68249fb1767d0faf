/**
 * Typed Graph API errors and their classification (reference §6). The client never retries; the
 * outbox reads `kind` (and {@link isRetryable}) to decide: retry, back off, wait for the fan, mark the
 * fan unreachable, mark the comment handled, or stop the page and alert.
 */

export type GraphErrorKind =
  | 'temporary' // 1, 2, 1200, HTTP 5xx, network: retry with backoff + jitter
  | 'throttled' // 4, 17, 32, 613: back off, slow the page, retry
  | 'outside_window' // 10 / 2018278: keep until the person writes again (or use a valid tag)
  | 'unreachable' // 551 / 1545041: mark the fan unreachable
  | 'invalid' // 100 (and anything unknown): a bug or bad data, record it
  | 'token' // 190: stop sending for the page, alert managers
  | 'permission' // 10 (other subcodes), 200, 230: alert
  | 'abusive' // 368: stop, alert
  | 'private_reply_done'; // 10900 / 10903: mark the comment handled

export const GRAPH_ERROR_KINDS: readonly GraphErrorKind[] = [
  'temporary',
  'throttled',
  'outside_window',
  'unreachable',
  'invalid',
  'token',
  'permission',
  'abusive',
  'private_reply_done',
];

/** Meta's error object: `{error:{message,type,code,error_subcode,fbtrace_id}}`. */
export interface GraphErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  fbtrace_id?: string;
  is_transient?: boolean;
  error_user_title?: string;
  error_user_msg?: string;
}

/** Extracts Meta's error object from a response body (tolerates strings, HTML and odd shapes). */
export function parseGraphErrorBody(body: unknown): GraphErrorBody {
  if (typeof body === 'string') {
    try {
      return parseGraphErrorBody(JSON.parse(body));
    } catch {
      return {};
    }
  }
  if (body === null || typeof body !== 'object') return {};
  const e = (body as { error?: unknown }).error;
  if (e === null || typeof e !== 'object') return {};
  const o = e as Record<string, unknown>;
  const num = (v: unknown): number | undefined => {
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
    return undefined;
  };
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const out: GraphErrorBody = {};
  const message = str(o.message);
  if (message !== undefined) out.message = message;
  const type = str(o.type);
  if (type !== undefined) out.type = type;
  const code = num(o.code);
  if (code !== undefined) out.code = code;
  const subcode = num(o.error_subcode);
  if (subcode !== undefined) out.error_subcode = subcode;
  const trace = str(o.fbtrace_id);
  if (trace !== undefined) out.fbtrace_id = trace;
  if (typeof o.is_transient === 'boolean') out.is_transient = o.is_transient;
  const title = str(o.error_user_title);
  if (title !== undefined) out.error_user_title = title;
  const userMsg = str(o.error_user_msg);
  if (userMsg !== undefined) out.error_user_msg = userMsg;
  return out;
}

const TEMPORARY_CODES = new Set([1, 2, 1200]);
const THROTTLED_CODES = new Set([4, 17, 32, 613]);
const PERMISSION_CODES = new Set([200, 230]);

/**
 * Classifies a Graph API error response. Pure; follows reference §6 row by row. A known error code
 * wins over the HTTP status; an unknown code is `temporary` on HTTP 5xx and `invalid` otherwise
 * (record it, do not retry). HTTP 429 without a known code is treated as `throttled`.
 */
export function classifyGraphError(httpStatus: number, body: unknown): GraphErrorKind {
  const { code, error_subcode: subcode } = parseGraphErrorBody(body);
  if (code === 10) return subcode === 2018278 ? 'outside_window' : 'permission';
  if (code === 551 || subcode === 1545041) return 'unreachable';
  if (code === 10900 || code === 10903) return 'private_reply_done';
  if (code === 190) return 'token';
  if (code !== undefined && THROTTLED_CODES.has(code)) return 'throttled';
  if (code !== undefined && TEMPORARY_CODES.has(code)) return 'temporary';
  if (code === 100) return 'invalid';
  if (code !== undefined && PERMISSION_CODES.has(code)) return 'permission';
  if (code === 368) return 'abusive';
  if (httpStatus >= 500) return 'temporary';
  if (httpStatus === 429) return 'throttled';
  return 'invalid';
}

/** Whether the outbox may try the same send again later (after backoff). `outside_window` is not
 * retryable in that sense: it waits for the fan to write, which is a different trigger. */
export function isRetryable(kind: GraphErrorKind): boolean {
  return kind === 'temporary' || kind === 'throttled';
}

export interface GraphCallInfo {
  method: string;
  /** Path without query string (never contains the token). */
  path: string;
}

/** The Graph API answered with an error. */
export class GraphApiError extends Error {
  override readonly name = 'GraphApiError';
  readonly kind: GraphErrorKind;
  readonly httpStatus: number;
  readonly code: number | undefined;
  readonly subcode: number | undefined;
  readonly type: string | undefined;
  readonly fbtraceId: string | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;
  /** Meta's own message, kept apart from our prefixed `message`. */
  readonly graphMessage: string | undefined;

  constructor(httpStatus: number, body: unknown, call?: GraphCallInfo) {
    const e = parseGraphErrorBody(body);
    const where = call ? `${call.method} ${call.path}: ` : '';
    super(
      `${where}Graph API error ${e.code ?? '?'}/${e.error_subcode ?? '-'} (HTTP ${httpStatus}): ${e.message ?? 'no message'}`,
    );
    this.httpStatus = httpStatus;
    this.code = e.code;
    this.subcode = e.error_subcode;
    this.type = e.type;
    this.fbtraceId = e.fbtrace_id;
    this.kind = classifyGraphError(httpStatus, body);
    this.method = call?.method;
    this.path = call?.path;
    this.graphMessage = e.message;
  }

  get retryable(): boolean {
    return isRetryable(this.kind);
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      kind: this.kind,
      httpStatus: this.httpStatus,
      code: this.code,
      subcode: this.subcode,
      type: this.type,
      fbtraceId: this.fbtraceId,
      message: this.graphMessage,
      method: this.method,
      path: this.path,
    };
  }
}

/** The request did not get an HTTP answer (timeout, refused, reset, DNS...). Always `temporary`. */
export class GraphNetworkError extends Error {
  override readonly name = 'GraphNetworkError';
  readonly kind = 'temporary' as const;
  /** Node/axios error code, e.g. `ECONNREFUSED`, `ETIMEDOUT`, `ECONNABORTED`. */
  readonly code: string | undefined;
  readonly timedOut: boolean;
  /**
   * True when the request may have reached Meta (timeout or reset after sending): a retried send
   * could then be a duplicate. False when it certainly did not leave (refused, DNS failure).
   */
  readonly maybeDelivered: boolean;
  readonly method: string | undefined;
  readonly path: string | undefined;

  constructor(
    message: string,
    opts: { code?: string | undefined; timedOut: boolean; cause?: unknown; call?: GraphCallInfo },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = opts.code;
    this.timedOut = opts.timedOut;
    this.maybeDelivered = !NOT_SENT_CODES.has(opts.code ?? '');
    this.method = opts.call?.method;
    this.path = opts.call?.path;
  }

  get retryable(): boolean {
    return true;
  }
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export type GraphError = GraphApiError | GraphNetworkError;

export function isGraphError(e: unknown): e is GraphError {
  return e instanceof GraphApiError || e instanceof GraphNetworkError;
}
