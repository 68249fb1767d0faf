import { AuditEntryModel, type AuditActorKind } from '../db/models/audit-entry.js';

/** Who changed something: a manager (dashboard session), an API token, the CLI, or the system itself. */
export interface AuditActor {
  readonly kind: AuditActorKind;
  readonly id: string;
  readonly label?: string | undefined;
}

/** The part of any request context the audit log needs (the admin context satisfies it as it is). */
export interface AuditContext {
  readonly pageId: string;
  readonly now: Date;
  readonly actor: AuditActor;
  readonly requestId?: string | undefined;
  readonly ip?: string | undefined;
}

export interface AuditRecord {
  /** `resource.verb`, e.g. `fan.tag`, `token.revoke`, `manager.update`. */
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string };
  /** Ids and small values only — never personal data or secrets. */
  readonly before?: Record<string, unknown> | undefined;
  readonly after?: Record<string, unknown> | undefined;
}

export async function recordAudit(ctx: AuditContext, record: AuditRecord): Promise<void> {
  await AuditEntryModel.create({
    pageId: ctx.pageId,
    at: ctx.now,
    actor: { kind: ctx.actor.kind, id: ctx.actor.id, label: ctx.actor.label },
    action: record.action,
    target: record.target,
    before: record.before,
    after: record.after,
    requestId: ctx.requestId,
    ip: ctx.ip,
  });
}
