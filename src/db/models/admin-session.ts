import { Schema, Types, model, type InferSchemaType } from 'mongoose';

/** A dashboard login. The cookie carries a random id; only its sha256 is stored. */
const adminSessionSchema = new Schema(
  {
    pageId: { type: String, required: true },
    managerId: { type: Types.ObjectId, required: true },
    idHash: { type: String, required: true },
    createdAt: { type: Date, required: true },
    lastSeenAt: { type: Date, required: true },
    /** Absolute expiry; a TTL index removes the document after it. */
    expiresAt: { type: Date, required: true },
    ip: { type: String },
    userAgent: { type: String },
  },
  { versionKey: false },
);

adminSessionSchema.index({ idHash: 1 }, { unique: true });
adminSessionSchema.index({ pageId: 1, managerId: 1 });
adminSessionSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export type AdminSession = InferSchemaType<typeof adminSessionSchema>;
export const AdminSessionModel = model('AdminSession', adminSessionSchema, 'admin_sessions');
export type AdminSessionDocument = ReturnType<(typeof AdminSessionModel)['hydrate']>;
