import { z } from 'zod';
import { route, type AdminRoute } from '../http.js';
import { role } from '../schemas.js';

export const meRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/me',
    tag: 'me',
    summary: 'Who is calling: kind, role, page, and (for sessions) the CSRF token',
    role: 'viewer',
    response: z.object({
      kind: z.enum(['session', 'token']),
      id: z.string(),
      label: z.string(),
      role,
      page: z.object({ id: z.string(), name: z.string() }),
      csrfToken: z.string().nullable(),
    }),
    handler: async (ctx) => {
      const p = ctx.principal;
      const configured = ctx.config.facebook.page;
      return {
        kind: p.kind,
        id: p.id,
        label: p.label,
        role: p.role,
        page: { id: p.pageId, name: p.pageId === configured.id ? configured.name : '' },
        csrfToken: p.session?.csrfToken ?? null,
      };
    },
  }),
];
