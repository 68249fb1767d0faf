import { Schema, model, type InferSchemaType } from 'mongoose';

export const JOB_RUN_OUTCOMES = ['running', 'ok', 'failed', 'aborted', 'abandoned'] as const;
export type JobRunOutcome = (typeof JOB_RUN_OUTCOMES)[number];

export const JOB_RUN_REASONS = ['scheduled', 'catch-up', 'manual'] as const;
export type JobRunReason = (typeof JOB_RUN_REASONS)[number];

/**
 * One run of a scheduled job, written when it starts (outcome `running`) and completed when it ends.
 * `(jobId, slot)` is unique: a cron tick is run by exactly one instance, even when the first one has
 * already finished and released the job's lease before another instance's tick fires.
 */
const jobRunSchema = new Schema(
  {
    jobId: { type: String, required: true },
    /** `tick:<ISO time of the cron slot>`, `catch-up:<ISO>` or `manual:<uuid>`. */
    slot: { type: String, required: true },
    reason: { type: String, enum: JOB_RUN_REASONS, required: true },
    holder: { type: String, required: true },
    startedAt: { type: Date, required: true },
    finishedAt: { type: Date },
    outcome: { type: String, enum: JOB_RUN_OUTCOMES, required: true },
    /** Small counters from the job (`{cancelled: 3}`), never personal data. */
    summary: { type: Schema.Types.Mixed },
    error: { type: String },
    /** Old runs go away by TTL; the runner keeps them long enough to know each job's last success. */
    expiresAt: { type: Date },
  },
  { versionKey: false, minimize: false },
);

jobRunSchema.index({ jobId: 1, slot: 1 }, { unique: true });
jobRunSchema.index({ jobId: 1, outcome: 1, startedAt: -1 });
jobRunSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export type JobRun = InferSchemaType<typeof jobRunSchema>;
export const JobRunModel = model('JobRun', jobRunSchema, 'job_runs');
