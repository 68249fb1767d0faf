import { Schema, model } from 'mongoose';

/** A named lease (a job, a fan's queue): whoever holds an unexpired one may do the work. */
const leaseSchema = new Schema(
  {
    _id: { type: String, required: true },
    holder: { type: String, required: true },
    until: { type: Date, required: true },
  },
  { versionKey: false },
);

export const LeaseModel = model('Lease', leaseSchema, 'leases');
