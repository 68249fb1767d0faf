import { Schema, model, type InferSchemaType, type HydratedDocument } from 'mongoose';

export const MANAGER_ROLES = ['viewer', 'manager', 'owner'] as const;
export type ManagerRole = (typeof MANAGER_ROLES)[number];

/** A brand manager's account on one Page. The password is only ever stored as an scrypt hash. */
const managerSchema = new Schema(
  {
    pageId: { type: String, required: true },
    /** Lower-cased and trimmed before it is stored, so the unique index means "one account per address". */
    email: { type: String, required: true },
    role: { type: String, enum: MANAGER_ROLES, required: true },
    passwordHash: { type: String, required: true },
    disabledAt: { type: Date },
    lastLoginAt: { type: Date },
    createdBy: { type: String },
  },
  { timestamps: true },
);

managerSchema.index({ pageId: 1, email: 1 }, { unique: true });

export type Manager = InferSchemaType<typeof managerSchema>;
export type ManagerDocument = HydratedDocument<Manager>;
export const ManagerModel = model('Manager', managerSchema, 'managers');
