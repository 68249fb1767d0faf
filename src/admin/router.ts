import express, { type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { createLimiters, DEFAULT_LIMITS, type AdminLimits, type Limiters } from './auth/authenticate.js';
import { AdminError } from './errors.js';
import { errorHandler, injectionGuard, mountRoutes, route, type AdminRoute } from './http.js';
import { buildOpenApi } from './openapi.js';
import { auditRoutes } from './resources/audit.js';
import { broadcastRoutes } from './resources/broadcasts.js';
import { campaignRoutes } from './resources/campaigns.js';
import { commentRoutes } from './resources/comments.js';
import { fanRoutes } from './resources/fans.js';
import { inboxRoutes } from './resources/inbox.js';
import { managerRoutes } from './resources/managers.js';
import { meRoutes } from './resources/me.js';
import { orderRoutes } from './resources/orders.js';
import { outboxRoutes } from './resources/outbox.js';
import { productRoutes } from './resources/products.js';
import { proposalRoutes } from './resources/proposals.js';
import { referralRoutes } from './resources/referrals.js';
import { reviewRoutes } from './resources/reviews.js';
import { segmentRoutes } from './resources/segments.js';
import { sessionRoutes } from './resources/session.js';
import { tokenRoutes } from './resources/tokens.js';

export interface AdminRouterDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly clock?: () => Date;
  /** Rate limits (tests lower them). */
  readonly limits?: Partial<AdminLimits>;
  /** Where the host app mounts this router; the session cookie is scoped to it. Default `/admin`. */
  readonly mountPath?: string;
}

export const API_PREFIX = '/api';
/** A small JSON body limit: no admin request needs more, and it bounds what the guard has to walk. */
const BODY_LIMIT = '32kb';

/** Every endpoint of the admin API, in registration order. A new feature appends its resource here. */
export function adminRoutes(deps: { limiters: Limiters; config: Config; mountPath?: string }): AdminRoute[] {
  const routes: AdminRoute[] = [
    ...sessionRoutes(deps),
    ...meRoutes,
    ...fanRoutes,
    ...inboxRoutes,
    ...outboxRoutes,
    ...managerRoutes,
    ...tokenRoutes,
    ...auditRoutes,
    ...campaignRoutes,
    ...commentRoutes,
    ...productRoutes,
    ...orderRoutes,
    ...proposalRoutes,
    ...reviewRoutes,
    ...segmentRoutes,
    ...broadcastRoutes,
    ...referralRoutes,
  ];
  let doc: Record<string, unknown> | undefined;
  routes.push(
    route({
      method: 'get',
      path: '/openapi.json',
      tag: 'meta',
      summary: 'This description of the API (generated from the route declarations)',
      role: 'viewer',
      response: z.record(z.string(), z.unknown()),
      handler: async () =>
        (doc ??= buildOpenApi(routes, {
          title: 'Social-commerce bot — admin API',
          version: '1',
          serverUrl: `${deps.config.publicUrl}${deps.mountPath ?? '/admin'}${API_PREFIX}`,
        })),
    }),
  );
  return routes;
}

/**
 * The brand-manager API under `<mountPath>/api`: its own JSON parser, operator-injection guard,
 * authentication (bearer token or session cookie + CSRF), roles, validation and error shape.
 */
export function createAdminRouter(deps: AdminRouterDeps): Router {
  const log = deps.log.child({ module: 'admin' });
  const clock = deps.clock ?? (() => new Date());
  const limiters = createLimiters({ ...DEFAULT_LIMITS, ...deps.limits }, clock);
  const cookieOptions = {
    secure: deps.config.publicUrl.startsWith('https:'),
    path: deps.mountPath ?? '/admin',
  };
  const router = express.Router();
  router.use(API_PREFIX, (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  router.use(API_PREFIX, express.json({ limit: BODY_LIMIT, strict: true }));
  router.use(API_PREFIX, injectionGuard);
  mountRoutes(
    router,
    API_PREFIX,
    adminRoutes({ limiters, config: deps.config, mountPath: cookieOptions.path }),
    {
      config: deps.config,
      log,
      clock,
      limiters,
      cookieOptions,
    },
  );
  router.use(API_PREFIX, (req, _res, next) => {
    next(
      new AdminError(
        'not_found',
        `No endpoint ${req.method} ${req.originalUrl.split('?')[0]}`,
        null,
        'no_such_endpoint',
      ),
    );
  });
  router.use(API_PREFIX, errorHandler(log));
  return router;
}
