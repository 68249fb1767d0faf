import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * A saved segment: its rules as validated JSON (src/domain/segment.ts owns the shape) plus the last
 * preview, so a list of segments can show sizes without recounting.
 */
const segmentSchema = new Schema(
  {
    pageId: { type: String, required: true },
    name: { type: String, required: true },
    description: { type: String },
    /** `SegmentDefinition` as JSON text (kept verbatim: rule shapes may grow without a migration). */
    definition: { type: String, required: true },
    createdBy: { type: String },
    lastPreview: {
      at: { type: Date },
      size: { type: Number },
      window: { type: Number },
      optin: { type: Number },
      updatesOnly: { type: Number },
      unreachable: { type: Number },
    },
  },
  { timestamps: true, minimize: false },
);

segmentSchema.index({ pageId: 1, createdAt: -1 });

export type Segment = InferSchemaType<typeof segmentSchema>;
export const SegmentModel = model('Segment', segmentSchema, 'segments');
