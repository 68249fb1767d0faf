import { Schema, model } from 'mongoose';

/** Botkit dialog state: opaque JSON text (mongoose `minimize` must not drop `{}`), with an eTag. */
const botStateSchema = new Schema(
  {
    _id: { type: String, required: true },
    data: { type: String, required: true },
    eTag: { type: String, required: true },
    updatedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false },
);

botStateSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export const BotStateModel = model('BotState', botStateSchema, 'botstate');
