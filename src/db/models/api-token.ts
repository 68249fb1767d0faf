import { Schema, model, type InferSchemaType, type HydratedDocument } from 'mongoose';
import { MANAGER_ROLES } from './manager.js';

/** An API token for automation. Only its sha256 is stored; the token itself is shown once. */
const apiTokenSchema = new Schema(
  {
    pageId: { type: String, required: true },
    name: { type: String, required: true },
    role: { type: String, enum: MANAGER_ROLES, required: true },
    tokenHash: { type: String, required: true },
    /** The first characters of the token (e.g. `scb_AbC1`), so people can tell their tokens apart. */
    prefix: { type: String, required: true },
    createdBy: { type: String },
    lastUsedAt: { type: Date },
    expiresAt: { type: Date },
    revokedAt: { type: Date },
    revokedBy: { type: String },
  },
  { timestamps: true },
);

apiTokenSchema.index({ tokenHash: 1 }, { unique: true });
apiTokenSchema.index({ pageId: 1, createdAt: -1 });

export type ApiToken = InferSchemaType<typeof apiTokenSchema>;
export type ApiTokenDocument = HydratedDocument<ApiToken>;
export const ApiTokenModel = model('ApiToken', apiTokenSchema, 'tokens');
