import { z } from 'zod';
import { ADMIN_ERROR_STATUS } from './errors.js';
import type { AdminRoute } from './http.js';

/** The OpenAPI 3.1 description of the admin API, generated from the route declarations themselves. */

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    target: 'draft-2020-12',
    // Responses carry Dates, which JSON serialisation turns into ISO strings.
    override: (ctx) => {
      if ((ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def.type === 'date') {
        ctx.jsonSchema.type = 'string';
        ctx.jsonSchema.format = 'date-time';
      }
    },
  }) as JsonSchema;
  delete out.$schema;
  return out;
}

function parameters(schema: z.ZodObject, where: 'path' | 'query'): JsonSchema[] {
  const js = jsonSchema(schema, 'input');
  const properties = (js.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((js.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

const toOpenApiPath = (path: string): string => path.replace(/:(\w+)/g, '{$1}');

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (validation or operator injection)',
  401: 'No or bad credentials',
  403: 'Role too low, or missing CSRF token on a session request',
  404: 'Not found',
  409: 'Conflict',
  413: 'Body too large',
  429: 'Rate limited (see Retry-After)',
};

export function buildOpenApi(
  routes: readonly AdminRoute[],
  info: { title: string; version: string; serverUrl: string },
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of routes) {
    const success: JsonSchema =
      r.status === 204
        ? { description: 'Done' }
        : r.produces === 'text/csv'
          ? { description: 'CSV download', content: { 'text/csv': { schema: { type: 'string' } } } }
          : {
              description: 'OK',
              content: { 'application/json': { schema: r.response ? jsonSchema(r.response, 'output') : {} } },
            };
    const errors =
      r.role === 'public'
        ? [400, 413, 429]
        : r.method === 'get'
          ? [400, 401, 403, 404, 429]
          : [400, 401, 403, 404, 409, 413, 429];
    const op: JsonSchema = {
      operationId: `${r.method}${toOpenApiPath(r.path)
        .replace(/[{}]/g, '')
        .replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      'x-required-role': r.role,
      security: r.role === 'public' ? [] : [{ bearerAuth: [] }, { sessionCookie: [] }],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(r.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [String(r.status)]: success,
        ...Object.fromEntries(
          errors.map((status) => [
            String(status),
            {
              description: ERROR_DESCRIPTIONS[status],
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
            },
          ]),
        ),
      },
    };
    (paths[toOpenApiPath(r.path)] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        'Brand-manager API. Authenticate with `Authorization: Bearer <token>` or the session cookie from ' +
        '`POST /session`; session requests that change something also need `X-CSRF-Token`. Lists are ' +
        'paginated with `?limit=&cursor=` and answer `{ items, nextCursor }`. Every error is ' +
        '`{"error":{"code","message","details"}}`.',
    },
    servers: [{ url: info.serverUrl }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'API token (`scb_…`)' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'scb_admin_session' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message', 'details'],
              properties: {
                code: {
                  type: 'string',
                  description: `One of ${Object.keys(ADMIN_ERROR_STATUS).join(', ')} or a finer code`,
                },
                message: { type: 'string' },
                details: {},
              },
            },
          },
        },
      },
    },
  };
}
