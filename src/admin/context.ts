import type { Config } from '../config/index.js';
import type { ManagerRole } from '../db/models/manager.js';
import type { Logger } from '../log.js';
import type { AuditActor } from '../app/audit.js';

export type AdminRole = ManagerRole;

const RANK: Record<AdminRole, number> = { viewer: 1, manager: 2, owner: 3 };

export function roleAtLeast(role: AdminRole, required: AdminRole): boolean {
  return RANK[role] >= RANK[required];
}

/** Who is calling: a manager through a dashboard session, or an API token. */
export interface Principal {
  readonly kind: 'session' | 'token';
  /** Manager id for a session, token id for a token. */
  readonly id: string;
  /** The manager's address or the token's name, for logs and the audit log. */
  readonly label: string;
  readonly role: AdminRole;
  readonly pageId: string;
  /** Session principals only: the raw session id (to log out) and its CSRF token (for the dashboard). */
  readonly session?: { readonly id: string; readonly csrfToken: string };
}

/** Everything a handler needs, built once per request and passed first (like the bot's turn context). */
export interface RequestContext {
  readonly config: Config;
  readonly log: Logger;
  readonly now: Date;
  readonly clock: () => Date;
  readonly requestId: string;
  readonly ip: string | undefined;
  readonly userAgent: string | undefined;
}

export interface AdminContext extends RequestContext {
  readonly principal: Principal;
  /** The page the principal belongs to; every query is scoped by it. */
  readonly pageId: string;
  readonly actor: AuditActor;
}

export function actorOf(principal: Principal): AuditActor {
  return {
    kind: principal.kind === 'session' ? 'manager' : 'token',
    id: principal.id,
    label: principal.label,
  };
}
