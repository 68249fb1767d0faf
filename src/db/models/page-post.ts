import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * A post of the Page that the bot knows about: what it links to (a group buy or a product), so a
 * comment under it can be answered about the right thing. The comments feature reads it too.
 */
const pagePostSchema = new Schema(
  {
    pageId: { type: String, required: true },
    /** Graph API id, `<pageId>_<n>`. */
    postId: { type: String, required: true },
    message: { type: String, default: '' },
    imageUrl: { type: String, default: null },
    createdTime: { type: Date, required: true },
    link: {
      type: { type: String, enum: ['campaign', 'product', 'proposal'], required: true },
      id: { type: String, required: true },
    },
    /** Words in a comment that show interest ("io", "ci sto", "me too"); empty = the feature's defaults. */
    keywords: { type: [String], default: [] },
  },
  { timestamps: true, minimize: false, versionKey: false },
);

pagePostSchema.index({ pageId: 1, postId: 1 }, { unique: true });
pagePostSchema.index({ pageId: 1, 'link.type': 1, 'link.id': 1 });
pagePostSchema.index({ pageId: 1, createdTime: -1 });

export type PagePost = InferSchemaType<typeof pagePostSchema>;
export const PagePostModel = model('PagePost', pagePostSchema, 'page_posts');
