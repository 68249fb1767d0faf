import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { ErrorRequestHandler, Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { authenticate, clientIp, isUnsafeMethod, type Limiters } from './auth/authenticate.js';
import type { CookieOptions } from './auth/sessions.js';
import { actorOf, roleAtLeast, type AdminContext, type AdminRole, type RequestContext } from './context.js';
import { AdminError, isDuplicateKeyError } from './errors.js';
import { findUnsafeKey, findUnsafeQueryName, parseQueryString, unsafeInputError } from './guard.js';

/**
 * One declaration per endpoint: method, path, role and zod schemas. `mountRoutes` turns it into an
 * express handler (guard → authenticate → authorize → validate → handler → response schema), and
 * `buildOpenApi` turns the very same objects into the OpenAPI document, so the two cannot drift.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
type AnyObject = z.ZodObject;
type Out<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;
type Result<R> = R extends z.ZodType ? z.input<R> : CsvBody | void;

export interface RouteInput<P, Q, B> {
  readonly params: Out<P>;
  readonly query: Out<Q>;
  readonly body: Out<B>;
}

/** What a handler may do to the HTTP exchange besides returning a value. */
export interface HttpControls {
  setHeader(name: string, value: string): void;
  readonly cookieOptions: CookieOptions;
}

/** Return this from a handler to stream a CSV download instead of JSON. */
export class CsvBody {
  constructor(
    readonly filename: string,
    readonly chunks: AsyncIterable<string>,
  ) {}
}

interface CommonSpec<P, Q, B, R> {
  readonly method: HttpMethod;
  /** Express path relative to `/admin/api`, e.g. `/fans/:psid/tags`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  /** OpenAPI tag: the resource name. */
  readonly tag: string;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /** JSON response schema; also strips any field not declared (a password hash can never leak). */
  readonly response?: R;
  readonly status?: 200 | 201 | 204;
  readonly produces?: 'application/json' | 'text/csv';
}

export interface RouteSpec<P, Q, B, R> extends CommonSpec<P, Q, B, R> {
  /** Least role allowed. Unsafe methods need `manager` or `owner` unless `selfService`. */
  readonly role: AdminRole;
  /** The endpoint only affects the caller's own session/account, so a viewer may use it. */
  readonly selfService?: boolean;
  readonly handler: (ctx: AdminContext, input: RouteInput<P, Q, B>, http: HttpControls) => Promise<Result<R>>;
}

export interface PublicRouteSpec<P, Q, B, R> extends CommonSpec<P, Q, B, R> {
  readonly handler: (
    ctx: RequestContext,
    input: RouteInput<P, Q, B>,
    http: HttpControls,
  ) => Promise<Result<R>>;
}

/** The type-erased declaration every resource exports (a list of these is the registry). */
export interface AdminRoute {
  readonly method: HttpMethod;
  readonly path: string;
  readonly summary: string;
  readonly description: string | undefined;
  readonly tag: string;
  readonly role: AdminRole | 'public';
  readonly params: AnyObject;
  readonly query: AnyObject;
  readonly body: AnyObject | undefined;
  readonly response: z.ZodType | undefined;
  readonly status: 200 | 201 | 204;
  readonly produces: 'application/json' | 'text/csv';
  readonly run: (ctx: AdminContext | RequestContext, input: unknown, http: HttpControls) => Promise<unknown>;
}

function declare(
  spec: CommonSpec<
    AnyObject | undefined,
    AnyObject | undefined,
    AnyObject | undefined,
    z.ZodType | undefined
  >,
  role: AdminRole | 'public',
  selfService: boolean,
  run: AdminRoute['run'],
): AdminRoute {
  const where = `${spec.method.toUpperCase()} ${spec.path}`;
  if (role === 'viewer' && isUnsafeMethod(spec.method) && !selfService) {
    throw new Error(`${where}: a route that changes something needs role manager or owner`);
  }
  if (spec.method === 'get' && spec.body) throw new Error(`${where}: GET routes take no body`);
  const pathParams = [...spec.path.matchAll(/:(\w+)/g)].map((m) => m[1]!).sort();
  const declared = Object.keys(spec.params?.shape ?? {}).sort();
  if (pathParams.join() !== declared.join()) {
    throw new Error(
      `${where}: params schema declares [${declared.join()}] but the path has [${pathParams.join()}]`,
    );
  }
  return {
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    description: spec.description,
    tag: spec.tag,
    role,
    // Strict objects everywhere: an unknown field or parameter is a 400, never silently ignored.
    params: (spec.params ?? z.object({})).strict(),
    query: (spec.query ?? z.object({})).strict(),
    body: spec.body?.strict(),
    response: spec.response,
    status: spec.status ?? 200,
    produces: spec.produces ?? 'application/json',
    run,
  };
}

/** Declares an authenticated endpoint. */
export function route<
  P extends AnyObject | undefined = undefined,
  Q extends AnyObject | undefined = undefined,
  B extends AnyObject | undefined = undefined,
  R extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<P, Q, B, R>): AdminRoute {
  return declare(spec, spec.role, spec.selfService ?? false, (ctx, input, http) =>
    spec.handler(ctx as AdminContext, input as RouteInput<P, Q, B>, http),
  );
}

/** Declares an endpoint that needs no credentials (only signing in). */
export function publicRoute<
  P extends AnyObject | undefined = undefined,
  Q extends AnyObject | undefined = undefined,
  B extends AnyObject | undefined = undefined,
  R extends z.ZodType | undefined = undefined,
>(spec: PublicRouteSpec<P, Q, B, R>): AdminRoute {
  return declare(spec, 'public', false, (ctx, input, http) =>
    spec.handler(ctx, input as RouteInput<P, Q, B>, http),
  );
}

export interface RouteRuntime {
  readonly config: Config;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly limiters: Limiters;
  readonly cookieOptions: CookieOptions;
}

export function validationError(where: string, error: z.ZodError): AdminError {
  const issues = error.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)],
    message: issue.message,
    code: issue.code,
  }));
  const first = issues[0];
  return new AdminError(
    'validation',
    first
      ? `Invalid ${where}: ${first.path.slice(1).join('.') || where}: ${first.message}`
      : `Invalid ${where}`,
    { issues },
  );
}

function parsePart<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(where, parsed.error);
  return parsed.data;
}

function bodyOf(req: Request): unknown {
  if (req.body !== undefined) return req.body;
  const length = Number(req.get('content-length') ?? 0);
  if (length > 0 || req.get('transfer-encoding')) {
    throw new AdminError(
      'validation',
      'The body must be JSON (Content-Type: application/json)',
      null,
      'not_json',
    );
  }
  return {};
}

function requestIdOf(req: Request): string {
  const given = req.get('x-request-id');
  return given && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID();
}

async function streamCsv(res: Response, body: CsvBody): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${body.filename.replace(/[^\w.-]/g, '_')}"`);
  try {
    for await (const chunk of body.chunks) {
      if (!res.write(chunk)) await once(res, 'drain');
    }
    res.end();
  } catch (err) {
    // Headers are gone: the only honest signal left is a broken download.
    res.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}

function handlerFor(r: AdminRoute, rt: RouteRuntime): RequestHandler {
  return async (req, res) => {
    const now = rt.clock();
    const requestId = requestIdOf(req);
    res.setHeader('X-Request-Id', requestId);
    const ip = clientIp(req);
    const base: RequestContext = {
      config: rt.config,
      log: rt.log.child({ requestId, route: `${r.method.toUpperCase()} ${r.path}` }),
      now,
      clock: rt.clock,
      requestId,
      ip,
      userAgent: req.get('user-agent'),
    };
    let ctx: RequestContext | AdminContext = base;
    if (r.role !== 'public') {
      const principal = await authenticate(req, { now, limiters: rt.limiters, log: base.log });
      if (!roleAtLeast(principal.role, r.role)) {
        throw new AdminError('forbidden', `This needs the ${r.role} role; you are ${principal.role}`, {
          required: r.role,
          actual: principal.role,
        });
      }
      ctx = {
        ...base,
        log: base.log.child({ principal: `${principal.kind}:${principal.id}` }),
        principal,
        pageId: principal.pageId,
        actor: actorOf(principal),
      } satisfies AdminContext;
    }
    const input = {
      params: parsePart(r.params, { ...req.params }, 'params'),
      query: parsePart(r.query, parseQueryString(req.originalUrl), 'query'),
      body: r.body ? parsePart(r.body, bodyOf(req), 'body') : {},
    };
    const http: HttpControls = {
      setHeader: (name, value) => res.setHeader(name, value),
      cookieOptions: rt.cookieOptions,
    };
    const result = await r.run(ctx, input, http);
    if (result instanceof CsvBody) return streamCsv(res, result);
    if (r.status === 204) {
      res.status(204).end();
      return;
    }
    let payload = result;
    if (r.response) {
      const checked = r.response.safeParse(result);
      if (!checked.success) {
        ctx.log.error(
          { issues: checked.error.issues },
          'admin API handler returned a value its schema refuses',
        );
        throw new AdminError('internal', 'Internal error', null, 'response_invalid');
      }
      payload = checked.data;
    }
    res.status(r.status).json(payload);
  };
}

export function mountRoutes(
  router: Router,
  prefix: string,
  routes: readonly AdminRoute[],
  rt: RouteRuntime,
): void {
  for (const r of routes) router[r.method](prefix + r.path, handlerFor(r, rt));
}

/** Rejects operator-looking keys in the body and query before any route runs. */
export const injectionGuard: RequestHandler = (req, _res, next) => {
  const inQuery = findUnsafeQueryName(Object.keys(parseQueryString(req.originalUrl)));
  if (inQuery) return next(unsafeInputError('query', inQuery));
  const inBody = findUnsafeKey(req.body);
  if (inBody) return next(unsafeInputError('body', inBody));
  next();
};

interface BodyParserError {
  type?: string;
  status?: number;
}

function toAdminError(err: unknown): AdminError | undefined {
  if (err instanceof AdminError) return err;
  const type = (err as BodyParserError | null)?.type;
  if (type === 'entity.parse.failed')
    return new AdminError('validation', 'The body is not valid JSON', null, 'invalid_json');
  if (type === 'entity.too.large') return new AdminError('payload_too_large', 'The body is too large');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new AdminError('validation', 'Unsupported body encoding', null, 'unsupported_encoding');
  }
  if (isDuplicateKeyError(err)) return new AdminError('conflict', 'That already exists', null, 'duplicate');
  // The router could not decode a path parameter (a `%` not followed by two hex digits): the client's fault.
  if (err instanceof URIError)
    return new AdminError('validation', 'The path is not validly percent-encoded', null, 'invalid_path');
  return undefined;
}

/** The last middleware of the admin router: every error leaves as `{"error":{"code","message","details"}}`. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const known = toAdminError(err);
    const error = known ?? new AdminError('internal', 'Internal error');
    if (!known) log.error({ err, method: req.method, url: req.originalUrl }, 'admin API: unexpected error');
    else if (error.status >= 500) log.error({ err, url: req.originalUrl }, 'admin API error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter));
    res.status(error.status).json(error.toBody());
  };
}
