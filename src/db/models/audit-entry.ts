import { Schema, model, type InferSchemaType } from 'mongoose';

export const AUDIT_ACTOR_KINDS = ['manager', 'token', 'cli', 'system'] as const;
export type AuditActorKind = (typeof AUDIT_ACTOR_KINDS)[number];

/**
 * Who did what, when, to which thing. `before`/`after` hold ids and small values (a role, a tag list),
 * never personal data or secrets: forgetting a fan must not leave their name here.
 */
const auditEntrySchema = new Schema(
  {
    pageId: { type: String, required: true },
    at: { type: Date, required: true },
    actor: {
      kind: { type: String, enum: AUDIT_ACTOR_KINDS, required: true },
      id: { type: String, required: true },
      label: { type: String },
    },
    action: { type: String, required: true },
    target: {
      type: { type: String, required: true },
      id: { type: String, required: true },
    },
    before: { type: Schema.Types.Mixed },
    after: { type: Schema.Types.Mixed },
    requestId: { type: String },
    ip: { type: String },
  },
  { versionKey: false, minimize: false },
);

auditEntrySchema.index({ pageId: 1, at: -1, _id: -1 });
auditEntrySchema.index({ pageId: 1, 'target.type': 1, 'target.id': 1, at: -1 });

export type AuditEntry = InferSchemaType<typeof auditEntrySchema>;
export const AuditEntryModel = model('AuditEntry', auditEntrySchema, 'audit');
